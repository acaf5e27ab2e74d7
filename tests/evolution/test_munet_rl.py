"""µNet on RL pairs: the problem's banks fit µNet's identities, earlier pairs keep their action
distributions exactly, backends agree, the script runs end to end and refuses bad pairs in one line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from agents.common.parallel import JobPool
from agents.common.spec import ObsBatch
from agents.evolution.munet import MuNet, MuNetConfig
from agents.evolution.rl import PathPolicy, RLSequence, zero_shot_source
from agents.rl.ppo import PPOConfig
from evo_fixtures import one_thread  # noqa: F401  (fixture)

PAIRS = ("Arm2:ReachRed", "Arm3:Push")


@pytest.fixture
def arms() -> RLSequence:
    ppo = PPOConfig(num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2, learning_rate=3e-3,
                    anneal_lr=False, checkpoint_every=10**9)
    return RLSequence(pairs=PAIRS, ppo=ppo, eval_episodes=8, test_episodes=8)


@pytest.fixture
def tiny() -> MuNetConfig:
    return MuNetConfig(layers=2, width=8, capacity=8, generations=1, children=2, steps=1, clone_rate=0.5,
                       adapter_rate=0.5)


def _observations(problem: RLSequence, robot: str) -> ObsBatch:
    spec = problem.spec
    generator = torch.Generator().manual_seed(0)
    rows = 16
    return ObsBatch(torch.randn(rows, spec.robot_width, generator=generator),
                    torch.randn(rows, spec.task_width, generator=generator),
                    torch.full((rows,), spec.robot_id(robot)), torch.zeros(rows, dtype=torch.long))


def _outputs(search: MuNet, problem: RLSequence, task: int, obs: ObsBatch) -> list[torch.Tensor]:
    with torch.no_grad():
        dist = PathPolicy(search.net, problem.spec, search.path_of(task)).distribution(obs, {})
    return [dist.mean, dist.log_std, dist.value]


def test_earlier_pairs_keep_their_action_distributions_exactly(arms, tiny):
    search = MuNet(arms, tiny, seed=3)
    search.run_task(0)
    obs = _observations(arms, "Arm2")
    before = _outputs(search, arms, 0, obs)
    head = [p.clone() for p in search.net.layers[-1].bank.params]
    search.run_task(1)
    assert all(torch.equal(a, b) for a, b in zip(before, _outputs(search, arms, 0, obs)))
    assert any(not torch.equal(a, b) for a, b in zip(head, search.net.layers[-1].bank.params))  # pair 1 trained
    rows = search.summary()
    assert [r["name"] for r in rows] == list(PAIRS)
    assert all(0.0 <= r["test"] <= 1.0 and r["new_parameters"] > 0 for r in rows)
    assert rows[1]["reused_modules"] > 0  # pair 1 runs frozen modules of pair 0, which stays exact
    assert rows[0]["training_steps"] == 3 and rows[1]["training_steps"] == 3  # 1 start + 2 children, 1 update each


def test_the_head_masks_each_robots_own_actions(arms):
    spec = arms.spec
    assert arms.layer_bank(1, 8, 2).kind == "linear"  # µNet's identity layers need linear modules
    head = arms.head_bank(8, 2)
    assert head.config["actor_out"] == spec.action_width == max(spec.action_dims.values())
    assert zero_shot_source(("Arm4", "Push"), [("Arm2", "Push"), ("Arm3", "Push"), ("Arm3", "ReachRed")]) == 1
    assert zero_shot_source(("Arm4", "ReachBlue"), [("Arm2", "Push")]) is None


def test_backends_train_the_same_candidates(arms, tiny):
    """Every candidate's seed comes from (seed, task, generation, index), never from a worker."""
    def qualities(pool: JobPool) -> list[float]:
        search = MuNet(arms, tiny, seed=5)
        search.start_task(0, pool)
        search.step(pool)
        return [m["quality"] for record in search.history for m in record["models"]]

    serial = qualities(JobPool("serial"))
    assert len(serial) == 3
    with JobPool("process", 2) as pool:
        assert qualities(pool) == serial


TINY = ["--suite", "arms", "--pairs", *PAIRS, "--zero-shot-pairs", "Arm2:Push", "Arm3Long:ReachBlue",
        "--munet.width", "8", "--munet.capacity", "8", "--munet.generations", "1", "--munet.steps", "1",
        "--no-progress"]


def test_the_script_runs_rl_munet_end_to_end(script, tmp_path):
    evolve = script("evolve")
    out = tmp_path / "mu"
    document = evolve.cli(["munet", "--out", str(out), *TINY])
    saved = json.loads((out / "munet.json").read_text())
    assert [r["task"] for r in saved["summary"]] == list(PAIRS)
    record = saved["records"][0]
    assert [r["steps"] for r in record["independent"]] == [r["training_steps"] for r in record["munet"]]
    zero = {r["pair"]: r for r in document["zero_shot"]}
    assert zero["Arm2:Push"]["source"] == "Arm3:Push" and zero["Arm3Long:ReachBlue"]["source"] is None
    numbers = [r["munet_test"] for r in saved["summary"]] + [r["independent_test"] for r in saved["summary"]]
    numbers += [v for r in saved["zero_shot"] for v in (r["untrained"], *r["by_source"].values())]
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in numbers)
    assert (out / "munet.png").exists() and (out / "seed0" / "munet.pt").exists()


@pytest.mark.parametrize("argv, message", [
    (["--suite", "arms", "--pairs", "Arm9:Push"], "unknown robot 'Arm9'"),
    (["--suite", "arms", "--pairs", "Arm2:Push", "Arm2:Push"], "must not repeat"),
    (["--suite", "arms", "--zero-shot-pairs", "Arm2:ReachRed"], "is introduced"),
    (["--suite", "mars"], "unknown suite 'mars'"),
    (["--suite", "digits", "--pairs", "Arm2:Push"], "for the RL suites"),
])
def test_bad_pairs_and_suites_are_refused_in_one_line(script, capsys, argv, message):
    with pytest.raises(SystemExit) as refused:
        script("evolve").cli(["munet", *argv])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
