"""Grounding the interface: each robot module's affine map is fitted as an inverse model of its arm."""

from __future__ import annotations

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from agents.common.contract import APPLIED, EE_MOVE
from agents.common.evaluate import evaluate
from agents.common.module_files import save_modules
from agents.common.multipair import MultiPairEnv
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.experiment import ExperimentConfig
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPO, PPOConfig, seed_everything
from envs.arms import DT, EE_MOVE_SCALE, MAX_JOINT_SPEED, forward_kinematics
from tests.conftest import load_script

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
    core = vec.envs[0].core
    moved = 0
    for _ in range(60):  # every episode ends within 50 steps
        q, ee = core.q.copy(), core.ee.copy()  # before the step (and before any reset it brings)
        step = vec.step(torch.ones(3, SPEC.action_width))
        turned = q + MAX_JOINT_SPEED * DT  # velocity control, every joint at full speed
        turned[:, 1:] = np.clip(turned[:, 1:], -core.limits[1:], core.limits[1:])
        world = forward_kinematics(core.links, turned) - ee
        c, s = np.cos(q[:, 0]), np.sin(q[:, 0])
        expected = np.stack([c * world[:, 0] + s * world[:, 1], c * world[:, 1] - s * world[:, 0]], -1) / EE_MOVE_SCALE
        np.testing.assert_allclose(step.ee_move.numpy(), expected, atol=1e-5)  # ended rows too: not the reset's zero
        moved += int(step.ended.sum())
    assert moved
    grid_spec = SuiteSpec.from_suite(envs.GRID)
    grid = MultiPairEnv(envs.GRID, grid_spec, [("Ego", "Goal")], 2)
    grid.reset(0)
    assert grid.step(torch.zeros(2, dtype=torch.long)).ee_move is None


def test_the_grounding_loss_fits_an_arms_inverse_kinematics():
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

    first = float(policy.grounding_loss(batch, replay).detach())
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


def test_ppo_replays_each_steps_own_move_and_the_action_the_env_applied():
    """Rows line up: stepping a fresh copy with the rollout's actions gives back the replayed moves,
    through episode ends (ReachRed truncates at 50 steps; the rollout is 60)."""
    seed_everything(0)
    policy = ModularPolicy(SPEC, GROUNDED)
    pairs = [("Arm2", "ReachRed"), ("Arm3Flip", "Avoid")]
    cfg = PPOConfig(num_envs=3, num_steps=60, num_minibatches=2, update_epochs=1, total_timesteps=2 * 3 * 60)
    collecting = MultiPairEnv(envs.ARMS6, SPEC, pairs, 3)
    rollout, _, _ = PPO(policy, collecting, cfg, progress=False).collect(collecting.reset(7))
    fresh = MultiPairEnv(envs.ARMS6, SPEC, pairs, 3)
    fresh.reset(7)
    ended = 0
    for t in range(cfg.num_steps):
        step = fresh.step(rollout.actions[t])
        torch.testing.assert_close(rollout.replay[EE_MOVE][t], step.ee_move)
        ended += int(step.ended.sum())
    torch.testing.assert_close(rollout.replay[APPLIED], rollout.actions.clamp(-1, 1))
    assert ended >= 3 and rollout.actions.abs().max() > 1  # ends crossed, and clipping had something to clip


def test_grounding_settings_that_make_no_sense_are_refused():
    with pytest.raises(ValueError, match="loss weight >= 0"):
        InterfaceConfig(grounding=-1.0)
    with pytest.raises(ValueError, match="loss weight >= 0"):
        InterfaceConfig(grounding=float("nan"))
    for bad in (InterfaceConfig(grounding=1.0, coupling="concat"), InterfaceConfig(grounding=1.0, width=3)):
        with pytest.raises(ValueError, match="need a message that can mean an end-effector move: --interface.coupling affine"):
            ModularPolicy(SPEC, bad.resolve("arms6"))
    with pytest.raises(ValueError, match="the modular policy's: add --policy modular"):
        ExperimentConfig(suite="arms6", policy=("monolithic",), interface=InterfaceConfig(grounding=0.5), out=None)
    resolved = ExperimentConfig(suite="arms6", policy=("monolithic",), out=None)  # arms6's preset grounds, and
    assert replace(resolved, progress=False).interface == resolved.interface  # re-checking it (workers > 1) passes
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


def test_tracking_compares_each_step_s_move_with_the_message_that_asked_for_it():
    seed_everything(0)
    policy = ModularPolicy(SPEC, GROUNDED)
    pairs = [("Arm2", "Avoid"), ("Arm3Accel", "ReachRed")]
    records = evaluate(policy, envs.ARMS6, pairs, episodes=3, seed=5, tracking=True)
    vec = MultiPairEnv(envs.ARMS6, SPEC, pairs, 3)  # the same episodes again, by hand
    obs, live = vec.reset(5), torch.ones(6, dtype=torch.bool)
    sums = torch.zeros(4, 6)  # made·asked, |made||asked|, |made|, |asked| per copy
    with torch.no_grad():
        while live.any():
            interface, _ = policy.task_layer(obs.task, obs.task_ids)
            step = vec.step(policy.distribution(obs, {}).mode())
            for row in live.nonzero().flatten().tolist():
                m, d = interface[row, :2], step.ee_move[row]
                sums[:, row] += torch.stack([m @ d, m.norm() * d.norm(), d.norm(), m.norm()])
            live &= ~step.ended
            obs = step.obs
    for p, record in enumerate(records):
        inner, lengths, made, asked = sums[:, 3 * p: 3 * p + 3].sum(1).tolist()
        assert record["tracking_cosine"] == pytest.approx(inner / lengths, rel=1e-5)
        assert record["tracking_speed"] == pytest.approx(made / asked, rel=1e-5)
    assert 0 < records[0]["tracking_speed"] and -1 <= records[0]["tracking_cosine"] <= 1
    policy.train()
    grid = envs.get_suite("grid")
    with pytest.raises(ValueError, match="does not report"):
        evaluate(ModularPolicy(SuiteSpec.from_suite(grid)), grid, [grid.pairs()[0]], 1, tracking=True)
    refused = ModularPolicy(SPEC, InterfaceConfig(coupling="concat").resolve("arms6"))
    with pytest.raises(ValueError, match="can ask for an end-effector move"):
        evaluate(refused, envs.ARMS6, pairs[:1], 1, tracking=True)
    assert refused.training  # the refusal came mid-evaluation: the policy is back in train mode


def test_zero_shot_reports_tracking_of_modules_loaded_from_their_files(tmp_path, capsys):
    """Module files do not carry the grounding weight (it is training-only): tracking works on them."""
    seed_everything(1)
    save_modules(ModularPolicy(SPEC, GROUNDED), tmp_path / "modules", "arms6")
    zero_shot = load_script("zero_shot")
    records = zero_shot.main(zero_shot.ZeroShotArgs(pairs=("Arm5:Avoid", "Arm2:Hold"), modules=tmp_path / "modules",
                                                    suite="arms6", episodes=2, tracking=True))
    assert all(-1 <= r["tracking_cosine"] <= 1 and r["tracking_speed"] > 0 for r in records)
    assert "Arm5:Avoid  move made vs asked: cosine" in capsys.readouterr().out


def test_the_tracking_script_reads_a_runs_split_and_reports_trained_and_held_out_pairs(tmp_path, capsys):
    seed_everything(2)
    run = tmp_path / "f0.5_s0"
    save_modules(ModularPolicy(SPEC, GROUNDED), run / "modular" / "seed1" / "modules", "arms6")
    (run / "config.json").write_text(json.dumps({"suite": "arms6", "holdout_fraction": 0.5, "split_seed": 0}))
    tracking = load_script("tracking")
    groups = tracking.main(tracking.TrackingArgs(run=run, episodes=1))
    held = envs.ARMS6.random_holdout(0.5, 0)
    assert [(r["robot"], r["task"]) for r in groups["held out"]] == held and len(groups["trained"]) == 18
    assert all(-1 <= r["tracking_cosine"] <= 1 for group in groups.values() for r in group)
    assert "held out  18 pairs  cosine" in capsys.readouterr().out
    with pytest.raises(ValueError, match="is not a run with modular modules for seed 3"):
        tracking.main(tracking.TrackingArgs(run=run, seed=3))
