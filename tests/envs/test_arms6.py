"""The arms6 suite: its robots differ in how they move, its tasks in what they ask of the end effector,
and adding it left the arms v1 ids as they were. (The per-pair checks are in test_envs.py's tables.)"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from envs import ARMS, ARMS6
from envs.arms import (DT, HOLD_STEPS, MAX_JOINT_ACCEL, MAX_JOINT_SPEED, TRACK_STEPS, ArmCore, Arms6VectorEnv,
                       scripted_action)


def _core(robot: str, task: str, n: int = 2, seed: int = 0) -> ArmCore:
    core = ArmCore(robot, task, n, "arms6")
    core.reset(np.ones(n, bool), np.random.default_rng(seed))
    return core


def test_arms_v1_ids_unchanged_and_not_out_of_date():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a newer version of the same name would warn on every make
        reach, push = gym.make("modrl/Arm3-ReachRed-v1"), gym.make("modrl/Arm4-Push-v1")
    obs, _ = reach.reset(seed=0)
    np.testing.assert_allclose(obs["robot"], [0.8958631, 0.6073681, -0.4443303, -0.7944205, -0.1841706, -0.3672212],
                               atol=1e-6)
    np.testing.assert_allclose(obs["task"], [0.7495899, -0.4098605, -0.1555920, -0.0435947, -1.3531722, 0.2169864],
                               atol=1e-6)
    push.reset(seed=0)
    for _ in range(5):
        obs, reward, *_ = push.step(np.full(4, 0.5, np.float32))
    np.testing.assert_allclose(obs["task"], [0.9638456, 0.2104083, -1.0332561, -0.8850359, -1.0853919, -0.6874356],
                               atol=1e-6)
    assert reward == pytest.approx(-0.4380386901661615, abs=1e-9)
    assert not set(ARMS6.id_format.format(robot=r, task=t) for r, t in ARMS6.pairs()) & set(
        ARMS.env_id(r, t) for r, t in ARMS.pairs())


def test_default_holdout_is_a_diagonal_and_random_holdouts_reach_three_quarters():
    held = ARMS6.default_holdout()
    assert len(held) == 6 and {r for r, _ in held} == set(ARMS6.robots) and {t for _, t in held} == set(ARMS6.tasks)
    for seed in range(5):
        held = ARMS6.random_holdout(0.75, seed)
        assert len(held) == 27
        train = ARMS6.splits(held)["train"]
        assert {r for r, _ in train} == set(ARMS6.robots) and {t for _, t in train} == set(ARMS6.tasks)
    with pytest.raises(ValueError, match="can be held out"):
        ARMS.random_holdout(0.75, 0)  # 9 of 12 pairs leaves too few to train all four robots and three tasks


def test_flipped_joint_turns_against_its_action():
    plain, flipped = _core("Arm3", "ReachRed"), _core("Arm3Flip", "ReachRed")
    flipped.q[:] = plain.q
    before = plain.q.copy()
    action = np.array([[0.0, 1.0, 0.0]] * 2)
    plain.step(action)
    flipped.step(action)
    np.testing.assert_allclose(plain.q[:, 1] - before[:, 1], MAX_JOINT_SPEED * DT)
    np.testing.assert_allclose(flipped.q[:, 1] - before[:, 1], -MAX_JOINT_SPEED * DT)


def test_acceleration_control_keeps_moving_and_observes_joint_speeds():
    core = _core("Arm3Accel", "ReachRed")
    core.q[:, 1:] = 0.0
    core.step(np.ones((2, 3)))
    speed = MAX_JOINT_ACCEL * DT
    np.testing.assert_allclose(core.obs()["robot"][:, 6:], speed / MAX_JOINT_SPEED, rtol=1e-6)
    np.testing.assert_allclose(core.q[:, 1], speed * DT)
    core.step(np.zeros((2, 3)))  # no action: it coasts, damped
    np.testing.assert_allclose(core.q[:, 1], speed * DT * (1 + 0.9))
    for _ in range(100):  # a joint that hits its limit stops there
        core.step(np.ones((2, 3)))
    np.testing.assert_allclose(core.q[:, 1:], 2.5)
    np.testing.assert_allclose(core.qd[:, 1:], 0.0)


def test_tight_joints_stop_early():
    core = _core("Arm3Tight", "ReachRed")
    for _ in range(40):
        core.step(np.ones((2, 3)))
    np.testing.assert_allclose(core.q[:, 1:], 1.6)
    np.testing.assert_allclose(core.obs()["robot"][:, 4:], 1.0)


def test_reach_targets_are_three_colours_in_random_order():
    core = _core("Arm3", "ReachBlue", n=256)
    angles = np.arctan2(core.objects[..., 1], core.objects[..., 0])
    for i, j in ((0, 1), (0, 2), (1, 2)):
        gap = np.abs((angles[:, i] - angles[:, j] + np.pi) % (2 * np.pi) - np.pi)
        assert gap.min() >= np.pi / 3 - 1e-9
    counterclockwise = ((angles[:, 1] - angles[:, 0]) % (2 * np.pi)) < ((angles[:, 2] - angles[:, 0]) % (2 * np.pi))
    assert 0.3 < counterclockwise.mean() < 0.7  # green comes after red as often as blue does
    radii = np.linalg.norm(core.objects, axis=-1)
    assert radii.min() >= 0.35 and radii.max() <= 0.85


def test_avoid_ends_in_failure_on_contact():
    env = Arms6VectorEnv(num_envs=8, robot="Arm3", task="Avoid")
    obs, _ = env.reset(seed=0)
    ended, hits = np.zeros(8, bool), 0
    for _ in range(env.max_episode_steps):
        # heading straight for the target (Hold's controller, which sees no obstacle) runs into it
        straight = {"robot": obs["robot"], "task": np.concatenate([obs["task"][:, :4], np.zeros((8, 1))], 1)}
        obs, reward, terminated, truncated, info = env.step(scripted_action("Arm3", "Hold", straight, "arms6"))
        hit = terminated & ~ended & ~info["final_info"]["is_success"] if terminated.any() else terminated
        hits += hit.sum()
        assert (reward[hit] < 0).all()  # the contact penalty outweighs the step's progress
        ended |= terminated | truncated
        if ended.all():
            break
    assert hits >= 6 and env.core.failed.sum() == 0  # failures are reset with their copy


def test_hold_succeeds_after_the_steps_held_and_observes_them():
    core = _core("Arm5", "Hold")
    core.objects[:, 0] = core.ee  # the target where the end effector is
    core.evaluate()
    for t in range(1, HOLD_STEPS + 1):
        core.step(np.zeros((2, 5)))
        _, success, _ = core.evaluate()
        np.testing.assert_allclose(core.obs()["task"][:, -1], t / HOLD_STEPS, rtol=1e-6)
        assert success.all() == (t == HOLD_STEPS)
    core.step(np.full((2, 5), 1.0))  # moving off resets the count
    assert (core.held == 0).all()


def test_track_target_circles_and_its_velocity_is_observed():
    core = _core("Arm2", "Track")
    start = core.objects[:, 0].copy()
    core.step(np.zeros((2, 2)))
    turned = np.arctan2(core.objects[:, 0, 1], core.objects[:, 0, 0]) - np.arctan2(start[:, 1], start[:, 0])
    np.testing.assert_allclose((turned + np.pi) % (2 * np.pi) - np.pi, core.param * DT)
    np.testing.assert_allclose(np.linalg.norm(core.objects[:, 0], axis=-1), np.linalg.norm(start, axis=-1))
    task = core.obs()["task"]
    target, velocity = task[:, 0:2] + task[:, 2:4], task[:, 4:6]
    np.testing.assert_allclose((target * velocity).sum(-1), 0.0, atol=1e-6)  # tangent to the circle
    np.testing.assert_allclose(np.linalg.norm(velocity, axis=-1), np.abs(core.param) * np.linalg.norm(start, axis=-1),
                               rtol=1e-5)
    assert TRACK_STEPS * DT * np.abs(core.param).min() * 0.4 > 0.2  # an idle arm cannot be passed by for long


@pytest.mark.parametrize("task", ARMS6.tasks)
def test_other_robots_controller_does_worse_on_the_flipped_arm(task):
    """The flipped joint matters: Arm3's controller on Arm3Flip fails where Arm3Flip's own succeeds."""
    n = 64
    results = {}
    for controller in ("Arm3", "Arm3Flip"):
        env = gym.make_vec(ARMS6.env_id("Arm3Flip", task), num_envs=n)
        obs, _ = env.reset(seed=1)
        done, success = np.zeros(n, bool), np.zeros(n, bool)
        for _ in range(env.unwrapped.max_episode_steps):
            obs, _, terminated, truncated, info = env.step(scripted_action(controller, task, obs, "arms6"))
            if terminated.any():
                success |= terminated & ~done & info["final_info"]["is_success"]
            done |= terminated | truncated
        results[controller] = success.mean()
    assert results["Arm3Flip"] >= 0.9 and results["Arm3"] <= results["Arm3Flip"] - 0.2, results
