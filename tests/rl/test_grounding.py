"""Grounding the interface: each robot module's affine map is fitted as an inverse model of its arm."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from agents.common.contract import APPLIED, EE_MOVE
from agents.common.multipair import MultiPairEnv
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.experiment import ExperimentConfig
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPO, PPOConfig, seed_everything
from envs.arms import EE_MOVE_SCALE, forward_kinematics

SPEC = SuiteSpec.from_suite(envs.ARMS6)
GROUNDED = InterfaceConfig(grounding=1.0).resolve("arms6")


def test_arm_envs_report_the_end_effectors_move_in_the_base_frame_of_the_steps_start():
    env = gym.make("modrl/Arms6-Arm3-Hold-v0").unwrapped
    _, info = env.reset(seed=3)
    assert np.array_equal(info["ee_move"], [0.0, 0.0])
    core = env.core
    for action in ([1.0, 0.0, 0.0], [0.2, -0.7, 0.5]):
        q, ee = core.q[0].copy(), core.ee[0].copy()
        _, _, _, _, info = env.step(np.array(action, np.float32))
        world = forward_kinematics(core.links, core.q)[0] - ee
        c, s = np.cos(q[0]), np.sin(q[0])
        expected = np.array([c * world[0] + s * world[1], c * world[1] - s * world[0]]) / EE_MOVE_SCALE
        np.testing.assert_allclose(info["ee_move"], expected, atol=1e-6)
    start = forward_kinematics(core.links, np.r_[0.0, core.q[0, 1:]][None])[0]  # the ee in the base frame
    env.step(np.array([1.0, 0.0, 0.0], np.float32))  # the base alone turns by 0.15 rad: a chord of that arc
    turn = EE_MOVE_SCALE
    np.testing.assert_allclose(core.ee_move[0] * EE_MOVE_SCALE,
                               [(np.cos(turn) - 1) * start[0] - np.sin(turn) * start[1],
                                np.sin(turn) * start[0] + (np.cos(turn) - 1) * start[1]], atol=1e-9)


def test_an_ended_rows_move_is_its_last_steps_and_suites_without_moves_report_none():
    vec = MultiPairEnv(envs.ARMS6, SPEC, [("Arm2", "ReachRed")], 3)
    vec.reset(0)
    moved = 0
    for _ in range(60):  # every episode ends within 50 steps
        step = vec.step(torch.ones(3, SPEC.action_width))
        assert step.ee_move.shape == (3, 2)
        if step.ended.any():
            assert (step.ee_move[step.ended].norm(dim=-1) > 0).all()  # not the reset's zero
            moved += 1
    assert moved
    grid_spec = SuiteSpec.from_suite(envs.GRID)
    grid = MultiPairEnv(envs.GRID, grid_spec, [("Ego", "Goal")], 2)
    grid.reset(0)
    assert grid.step(torch.zeros(2, dtype=torch.long)).ee_move is None


def test_the_grounding_loss_trains_robot_modules_only_and_fits_an_arms_inverse_kinematics():
    """Arm2 under velocity control: its joint speeds follow from a small end-effector move and its
    joint angles, but the move must be in the base frame (the robot does not observe the base angle)."""
    seed_everything(0)
    policy = ModularPolicy(SPEC, GROUNDED)
    pair = MultiPairEnv(envs.ARMS6, SPEC, [("Arm2", "ReachRed")], 128)
    obs = pair.reset(0)
    rows = []
    for _ in range(4):
        applied = torch.zeros(128, SPEC.action_width)
        applied[:, :2] = torch.empty(128, 2).uniform_(-0.3, 0.3)
        step = pair.step(applied)
        rows.append((obs, step.ee_move, applied))
        obs = step.obs
    batch = ObsBatch.stack([r[0] for r in rows]).flatten()
    replay = {EE_MOVE: torch.cat([r[1] for r in rows]), APPLIED: torch.cat([r[2] for r in rows])}

    loss = policy.grounding_loss(batch, replay)
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in policy.task_layer.parameters())
    assert any(p.grad is not None and p.grad.any() for p in policy.robot_layer.parameters())

    first = float(loss.detach())
    optimizer = torch.optim.Adam(policy.robot_layer.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        loss = policy.grounding_loss(batch, replay)
        loss.backward()
        optimizer.step()
    # measured: 0.10 of the first loss; the same moves turned into the world frame leave 0.90
    assert float(loss.detach()) < 0.3 * first


def test_ppo_replays_the_moves_and_logs_the_grounding_loss():
    seed_everything(0)
    policy = ModularPolicy(SPEC, GROUNDED)
    cfg = PPOConfig(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2, total_timesteps=2 * 2 * 4 * 16)
    ppo = PPO(policy, MultiPairEnv(envs.ARMS6, SPEC, [("Arm2", "Hold"), ("Arm3Accel", "Push")], 4), cfg, progress=False)
    history = ppo.train()
    assert len(history) == 2 and all(np.isfinite(h["aux/grounding"]) and h["aux/grounding"] > 0 for h in history)
    assert policy.describe()["interface_grounding"] == 1.0
    assert "interface_grounding" not in ModularPolicy(SPEC, InterfaceConfig(grounding=0.0).resolve("arms6")).describe()


def test_grounding_settings_that_make_no_sense_are_refused():
    with pytest.raises(ValueError, match="loss weight >= 0"):
        InterfaceConfig(grounding=-1.0)
    with pytest.raises(ValueError, match="loss weight >= 0"):
        InterfaceConfig(grounding=float("nan"))
    for bad in (InterfaceConfig(grounding=1.0, coupling="concat"), InterfaceConfig(grounding=1.0, width=3)):
        with pytest.raises(ValueError, match="needs --interface.coupling affine, --interface.width 2"):
            ModularPolicy(SPEC, bad.resolve("arms6"))
    with pytest.raises(ValueError, match="the modular policy's: add --policy modular"):
        ExperimentConfig(suite="arms6", policy=("monolithic",), interface=InterfaceConfig(grounding=0.1), out=None)
    with pytest.raises(ValueError, match="an arms suite"):
        ExperimentConfig(suite="grid", policy=("modular",), out=None,
                         interface=InterfaceConfig(grounding=1.0, coupling="affine", width=2))


def test_arms6s_preset_grounds_and_a_preset_grounding_is_dropped_where_there_is_nothing_to_ground():
    assert InterfaceConfig().resolve("arms6").grounding == 0.1
    assert InterfaceConfig().resolve("arms").grounding == 0.0
    for given in (InterfaceConfig(coupling="concat"), InterfaceConfig(width=4)):
        assert given.resolve("arms6").grounding == 0.0  # the preset's grounding went with its coupling and width
        ModularPolicy(SPEC, given.resolve("arms6"))
    assert InterfaceConfig(grounding=0.5, coupling="affine").resolve("arms").grounding == 0.5
