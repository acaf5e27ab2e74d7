"""Training the task modules against simulated partners: the message turned and slowed per episode."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import envs
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec
from agents.rl.compat import upgrade_config
from agents.rl.experiment import ExperimentConfig
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import DISTORTION, MASKS, ModularPolicy, partner_distortion
from agents.rl.ppo import PPO, PPOConfig, seed_everything

SPEC = SuiteSpec.from_suite(envs.ARMS6)
PARTNERS = InterfaceConfig(turn=30.0, gain=0.6).resolve("arms6")


def _obs(rows: int, seed: int = 0):
    vec = MultiPairEnv(envs.ARMS6, SPEC, [("Arm3", "Avoid")], rows)
    return vec, vec.reset(seed)


def test_a_partner_distortion_is_a_turn_within_the_bound_times_a_gain_within_its_range():
    maps = partner_distortion(PARTNERS, 4000, torch.device("cpu"))
    gain = torch.linalg.det(maps).sqrt()
    turn = torch.rad2deg(torch.atan2(maps[:, 1, 0], maps[:, 0, 0]))
    assert gain.min() >= 0.6 - 1e-6 and gain.max() <= 1 + 1e-6 and gain.max() - gain.min() > 0.35
    assert turn.abs().max() <= 30 + 1e-4 and turn.min() < -25 and turn.max() > 25
    rotation = maps / gain[:, None, None]
    torch.testing.assert_close(rotation @ rotation.transpose(1, 2), torch.eye(2).expand(4000, 2, 2), atol=1e-5, rtol=0)


def test_each_env_copy_keeps_its_distortion_until_its_episode_ends_and_evaluation_has_none():
    torch.manual_seed(0)
    policy = ModularPolicy(SPEC, PARTNERS)
    _, obs = _obs(3)
    first = policy.draw(obs, torch.ones(3, dtype=torch.bool))
    assert set(first) == {MASKS, DISTORTION}
    later = policy.draw(obs, torch.tensor([False, True, False]))
    assert torch.equal(later[DISTORTION][[0, 2]], first[DISTORTION][[0, 2]])
    assert not torch.equal(later[DISTORTION][1], first[DISTORTION][1])  # a new episode, a new partner
    with torch.no_grad():
        interface, _ = policy.task_layer(obs.task, obs.task_ids)
        message = (first[DISTORTION] @ interface[:, :2].unsqueeze(-1)).squeeze(-1)
        maps = policy.distribution(obs, {DISTORTION: first[DISTORTION]}).extras["affine_maps"]
        expected = (maps[..., :-1] @ message.unsqueeze(-1)).squeeze(-1) + maps[..., -1]
        torch.testing.assert_close(policy.distribution(obs, {DISTORTION: first[DISTORTION]}).mean, expected)
        plain = (maps[..., :-1] @ interface[:, :2].unsqueeze(-1)).squeeze(-1) + maps[..., -1]
        torch.testing.assert_close(policy.distribution(obs, {}).mean, plain)  # evaluation: the message as sent
    fresh = ModularPolicy(SPEC, PARTNERS)
    with pytest.raises(ValueError, match="mid-episode"):
        fresh.draw(obs, torch.tensor([True, False, True]))
    with pytest.raises(ValueError, match="starts must mark each of the 3 rows"):
        policy.draw(obs, torch.tensor([True]))


def test_consistency_mode_compares_full_and_dropped_out_interfaces_under_the_same_distortion():
    torch.manual_seed(0)
    policy = ModularPolicy(SPEC, InterfaceConfig(turn=40.0, gain=0.5, mode="consistency", dropout=0.2).resolve("arms6"))
    _, obs = _obs(4)
    replay = policy.draw(obs, torch.ones(4, dtype=torch.bool))
    assert set(replay) == {DISTORTION}  # consistency mode acts on the full interface
    losses = policy.aux_losses(obs, policy.distribution(obs, replay), replay)
    assert torch.isfinite(losses["consistency"]) and float(losses["consistency"].detach()) > 0
    no_dropout = ModularPolicy(SPEC, InterfaceConfig(turn=40.0, mode="consistency", dropout=1e-9).resolve("arms6"))
    no_dropout.load_state_dict(policy.state_dict())
    # with (almost) no dropout, the dropped-out policy is the acting one only if both see the same distortion
    assert float(no_dropout.aux_losses(obs, no_dropout.distribution(obs, replay), replay)["consistency"]) < 1e-6


def test_ppo_acts_and_updates_with_the_replayed_distortion():
    seed_everything(0)
    policy = ModularPolicy(SPEC, PARTNERS)
    pairs = [("Arm2", "Hold"), ("Arm3Accel", "Push")]
    cfg = PPOConfig(num_envs=3, num_steps=60, num_minibatches=2, update_epochs=1, total_timesteps=2 * 2 * 3 * 60)
    vec = MultiPairEnv(envs.ARMS6, SPEC, pairs, 3)
    ppo = PPO(policy, vec, cfg, progress=False)
    rollout, _, _ = ppo.collect(vec.reset(1))
    fresh = MultiPairEnv(envs.ARMS6, SPEC, pairs, 3)
    fresh.reset(1)
    ended = torch.stack([fresh.step(action).ended for action in rollout.actions])  # the rollout's episode ends
    maps = rollout.replay[DISTORTION]  # [T, N, 2, 2]
    changed = (maps[1:] != maps[:-1]).flatten(2).any(-1)
    assert ended.any() and torch.equal(changed, ended[:-1])  # a copy's distortion changes where its episode ended
    history = PPO(policy, MultiPairEnv(envs.ARMS6, SPEC, pairs, 3), cfg, progress=False).train()
    assert len(history) == 2 and all(np.isfinite(h["policy_loss"]) for h in history)
    assert policy.describe() | {"interface_turn": 30.0, "interface_gain": 0.6} == policy.describe()


def test_distortion_settings_that_make_no_sense_are_refused_and_old_runs_have_none():
    for bad, match in ((dict(turn=180.0), "in \\[0, 180\\)"), (dict(turn=-1.0), "in \\[0, 180\\)"),
                       (dict(gain=0.0), "in \\(0, 1\\]"), (dict(gain=1.5), "in \\(0, 1\\]")):
        with pytest.raises(ValueError, match=match):
            InterfaceConfig(**bad)
    for bad in (InterfaceConfig(turn=20.0, coupling="concat"), InterfaceConfig(gain=0.5, width=3)):
        with pytest.raises(ValueError, match="turn/gain need a message that can mean an end-effector move"):
            ModularPolicy(SPEC, bad)
    grid = SuiteSpec.from_suite(envs.get_suite("grid"))
    with pytest.raises(ValueError, match="discrete actions"):
        ModularPolicy(grid, InterfaceConfig(turn=20.0, coupling="affine", width=2).resolve("grid"))
    for given in (InterfaceConfig(turn=20.0), InterfaceConfig(gain=0.5)):
        with pytest.raises(ValueError, match="modular policy's: add --policy modular"):
            ExperimentConfig(suite="arms6", policy=("monolithic",), interface=given, out=None)
    with pytest.raises(ValueError, match="in \\[0, 180\\)"):
        InterfaceConfig(turn=True)
    ExperimentConfig(suite="arms6", policy=("monolithic",), interface=InterfaceConfig(turn=0.0), out=None)
    dropped = InterfaceConfig(coupling="concat").resolve("arms6")
    assert (dropped.turn, dropped.gain) == (0.0, 1.0) and not dropped.distorts
    assert not ModularPolicy(SPEC, InterfaceConfig().resolve("arms6")).describe().keys() & {"interface_turn"}
    old = upgrade_config({"interface": {"width": 2, "dropout": 0.05, "mode": "replay", "noise": "gaussian"}})
    assert (old["interface"]["turn"], old["interface"]["gain"]) == (0.0, 1.0)
    assert math.isclose(InterfaceConfig(turn=10.0).resolve("arms6").grounding, 0.1)
