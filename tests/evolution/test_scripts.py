"""scripts/evolve.py and scripts/bench_evolution.py end to end at toy sizes."""

from __future__ import annotations

import json

import pytest

TINY_PATHNET = ["--pathnet.layers", "2", "--pathnet.modules", "3", "--pathnet.active", "2", "--pathnet.width", "8",
                "--pathnet.population", "4", "--pathnet.steps", "5", "--pathnet.max-generations", "2",
                "--pairs", "0:1", "3:8", "--no-progress", "--checkpoint-every", "1"]


def test_pathnet_writes_its_records_and_resumes(script, tmp_path, capsys):
    evolve = script("evolve")
    out = tmp_path / "run"
    document = evolve.cli(["pathnet", "--out", str(out), *TINY_PATHNET])
    saved = json.loads((out / "pathnet.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(document["summary"]))
    assert set(saved["records"][0]["conditions"]) == {"transfer", "independent", "finetune"}
    assert (out / "pathnet.png").exists() and (out / "tb").is_dir()
    assert sorted(p.name for p in (out / "seed0").iterdir()) == [
        "taskA.pt", "taskB-finetune.pt", "taskB-independent.pt", "taskB-transfer.pt"]
    with pytest.raises(SystemExit) as refused:
        evolve.cli(["pathnet", "--out", str(out), *TINY_PATHNET])
    assert refused.value.code == 2
    assert "--resume" in capsys.readouterr().err
    resumed = evolve.cli(["pathnet", "--out", str(out), "--resume", *TINY_PATHNET])
    assert resumed["records"] == json.loads(json.dumps(document["records"]))


def test_munet_runs_on_digits_and_refuses_an_unknown_strategy(script, tmp_path, capsys):
    evolve = script("evolve")
    document = evolve.cli(["munet", "--digits", "0", "1", "--train-per-task", "40", "--baseline-steps", "10",
                           "--munet.width", "8", "--munet.generations", "1", "--munet.steps", "5",
                           "--munet.capacity", "8", "--no-progress", "--out", str(tmp_path / "mu")])
    assert [r["task"] for r in document["summary"]] == ["is0", "is1"]
    assert (tmp_path / "mu" / "munet.png").exists()
    with pytest.raises(SystemExit):
        evolve.cli(["search"])
    assert "the first argument is the strategy" in capsys.readouterr().err


def test_pathnet_on_an_arm_at_toy_size(script):
    evolve = script("evolve")
    document = evolve.cli(["pathnet", "--suite", "arms", "--pathnet.population", "2", "--pathnet.steps", "1",
                           "--pathnet.max-generations", "1", "--pathnet.modules", "2", "--conditions", "transfer",
                           "--no-progress"])
    record = document["records"][0]
    assert record["tasks"] == ["Arm2:ReachRed", "Arm2:Push"]
    assert 0.0 <= record["conditions"]["transfer"]["fitness"] <= 1.0


def test_bench_evolution_reports_ratios(script, tmp_path):
    bench = script("bench_evolution")
    out = bench.main(bench.Args(tournaments=1, steps=2, generations=1, workers=(1,), backends=("serial",),
                                json=tmp_path / "b.json"))  # (other backends: test_backends.py)
    assert [r["backend"] for r in out["rows"]] == ["serial"]
    assert out["rows"][0]["ratio_vs_serial"] == 1.0
    assert json.loads((tmp_path / "b.json").read_text())["identical_fitness"]
