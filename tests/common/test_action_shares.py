"""Action shares: which of its actions a policy takes on each pair of a discrete suite
(`Suite.action_names`, `evaluate(..., action_shares=True)`, `scripts/zero_shot.py --action-shares`)."""

from __future__ import annotations

import json

import pytest
import torch

import envs
from agents.common.contract import ActionDist
from agents.common.evaluate import evaluate
from agents.common.module_files import save_modules
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec
from agents.rl.policies import ModularPolicy
from envs import grid, grid6

PAIRS = [("Ego", "Door"), ("Cardinal", "Key")]


class OneActionPolicy(ModularPolicy):
    """A modular policy whose every row takes action `index` (all robots have it)."""

    def __init__(self, spec: SuiteSpec, index: int) -> None:
        super().__init__(spec)
        self.index = index

    def distribution(self, obs, replay):
        dist = super().distribution(obs, replay)
        logits = torch.zeros_like(dist.mask, dtype=torch.float32)
        logits[:, self.index] = 1e6
        return ActionDist(logits, dist.value, dist.mask, discrete=True)


@pytest.mark.parametrize("suite,names", [(envs.GRID, grid.ROBOTS),
                                         (envs.GRID6, {r: body.actions for r, body in grid6.ROBOTS.items()})])
def test_suite_action_names_match_the_robot_tables(suite, names):
    assert {r: suite.action_names(r) for r in suite.robots} == names
    for robot in suite.robots:
        assert len(suite.action_names(robot)) == suite.action_space(robot).n


def test_continuous_suites_refuse_action_names_in_one_line():
    message = "^suite 'arms' has continuous actions; action shares are for discrete suites$"
    with pytest.raises(ValueError, match=message):
        envs.ARMS.action_names("Arm2")


def test_unnamed_discrete_actions_are_numbered_and_wrong_counts_refused():
    import gymnasium as gym

    spaces = {"R": gym.spaces.Discrete(3)}
    suite = envs.Suite("tiny", {"R": 1}, {"T": 1}, spaces, "tiny/{robot}-{task}-v0")
    assert suite.action_names("R") == ("a0", "a1", "a2")
    with pytest.raises(ValueError, match="2 action names"):
        envs.Suite("tiny", {"R": 1}, {"T": 1}, spaces, "tiny/{robot}-{task}-v0", action_names={"R": ("x", "y")})


@pytest.mark.parametrize("deterministic", [True, False])
def test_shares_cover_the_robots_own_actions_and_change_nothing_else(deterministic):
    torch.manual_seed(0)
    policy = ModularPolicy(SuiteSpec.from_suite(envs.GRID))
    plain = evaluate(policy, envs.GRID, PAIRS, episodes=5, seed=1, deterministic=deterministic)
    with_shares = evaluate(policy, envs.GRID, PAIRS, episodes=5, seed=1, deterministic=deterministic,
                           action_shares=True)
    for before, after in zip(plain, with_shares):
        shares = after.pop("action_shares")
        assert after == before  # same success_rate, final_distance, ... : the same episodes
        assert tuple(shares) == grid.ROBOTS[before["robot"]]
        assert sum(shares.values()) == pytest.approx(1.0)
        assert all(0.0 <= s <= 1.0 for s in shares.values())
    assert "action_shares" not in plain[0]


def test_shares_count_each_copys_first_episode_only(monkeypatch):
    episodes, steps = 4, []
    step = MultiPairEnv.step

    def spy(self, action):
        result = step(self, action)
        steps.append((action.clone(), result.ended.clone()))
        return result

    monkeypatch.setattr(MultiPairEnv, "step", spy)
    policy = ModularPolicy(SuiteSpec.from_suite(envs.GRID))
    records = evaluate(policy, envs.GRID, PAIRS, episodes=episodes, seed=2, deterministic=False, action_shares=True)
    counts, finished = torch.zeros(len(PAIRS) * episodes, 6), torch.zeros(len(PAIRS) * episodes, dtype=torch.bool)
    for action, ended in steps:
        counts[~finished, action[~finished]] += 1
        finished |= ended
    for p, r in enumerate(records):
        own = counts[p * episodes : (p + 1) * episodes].sum(0)[: len(grid.ROBOTS[r["robot"]])]
        assert list(r["action_shares"].values()) == pytest.approx((own / own.sum()).tolist())


def test_a_policy_that_always_picks_one_action_has_share_one_for_it():
    index = 4  # Ego's "toggle", Cardinal's "pickup"
    policy = OneActionPolicy(SuiteSpec.from_suite(envs.GRID), index)
    records = evaluate(policy, envs.GRID, PAIRS, episodes=3, seed=0, action_shares=True)
    for r in records:
        names = grid.ROBOTS[r["robot"]]
        assert r["action_shares"] == {name: float(i == index) for i, name in enumerate(names)}


def test_continuous_evaluation_refuses_action_shares():
    policy = ModularPolicy(SuiteSpec.from_suite(envs.ARMS))
    with pytest.raises(ValueError, match="continuous actions"):
        evaluate(policy, envs.ARMS, [("Arm2", "ReachRed")], episodes=1, action_shares=True)


def test_zero_shot_prints_and_saves_action_shares(tmp_path, script, capsys):
    save_modules(ModularPolicy(SuiteSpec.from_suite(envs.GRID)), tmp_path / "modules", "grid")
    zero_shot = script("zero_shot")
    args = ["--suite", "grid", "--modules", str(tmp_path / "modules"), "--pairs", "Mirrored:Door", "Ego:Key",
            "--episodes", "3", "--action-shares", "--out", str(tmp_path / "out")]
    records = zero_shot.run_cli(zero_shot.main, zero_shot.ZeroShotArgs, args)
    lines = capsys.readouterr().out.splitlines()
    for r in records:
        [line] = [line for line in lines if line.startswith(f"{r['robot']}:{r['task']}  ")]
        expected = "  ".join(f"{name} {r['action_shares'][name]:.2f}" for name in grid.ROBOTS[r["robot"]])
        assert line == f"{r['robot']}:{r['task']}  {expected}"
    saved = json.loads((tmp_path / "out" / "zero_shot.json").read_text())
    assert [list(r["action_shares"]) for r in saved] == [list(grid.ROBOTS["Mirrored"]), list(grid.ROBOTS["Ego"])]
    assert saved == records


def test_zero_shot_refuses_action_shares_on_a_continuous_suite_before_evaluating(script, capsys):
    zero_shot = script("zero_shot")
    with pytest.raises(SystemExit):  # no modules given: the refusal comes before looking for them
        zero_shot.run_cli(zero_shot.main, zero_shot.ZeroShotArgs, ["--pairs", "Arm2:ReachRed", "--action-shares"])
    assert capsys.readouterr().err == ("error: suite 'arms' has continuous actions; action shares are for "
                                       "discrete suites\n")
