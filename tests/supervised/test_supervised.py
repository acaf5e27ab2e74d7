"""Digits-MTL supervised trainer: every method end to end at small scale, learning, CLI outputs."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

from agents.supervised.digits import NUM_TASKS, make_digits_mtl  # noqa: E402
from agents.supervised.trainer import METHODS, SupervisedConfig, build_model, run_method  # noqa: E402

TINY = SupervisedConfig(steps=30, batch_size=32, hidden=8)


def load_script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "digits_mtl.py"
    spec = importlib.util.spec_from_file_location("digits_mtl_script", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_data_split_is_disjoint_balanced_and_seeded():
    train, test = make_digits_mtl(0, train_per_task=40)
    assert train.x.shape == (NUM_TASKS * 40, 64) and float(train.x.min()) >= 0 and float(train.x.max()) <= 1
    for t in range(NUM_TASKS):
        assert float(train.of_task(t).y.mean()) == 0.5
        assert float(test.of_task(t).y.mean()) == 0.5  # balanced: majority-class rate (chance) is 0.5
    train_rows = {tuple(r) for r in train.x.tolist()}
    test_rows = {tuple(r) for r in test.x.tolist()}
    # load_digits holds a few exact duplicate images; apart from those the pools share nothing
    assert len(train_rows & test_rows) <= 5
    again, _ = make_digits_mtl(0, train_per_task=40)
    assert bool((again.x == train.x).all())
    other, _ = make_digits_mtl(1, train_per_task=40)
    assert not bool((other.x == train.x).all())


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_end_to_end(method):
    record = run_method(method, 0, TINY)
    for key in ("method", "seed", "mean_accuracy", "parameters", "per_task_accuracy", "seconds", "final_loss"):
        assert key in record
    assert record["method"] == method and record["seed"] == 0
    assert math.isfinite(record["final_loss"])
    assert isinstance(record["mean_accuracy"], float) and 0.0 <= record["mean_accuracy"] <= 1.0
    assert len(record["per_task_accuracy"]) == NUM_TASKS
    assert record["parameters"] == sum(p.numel() for p in build_model(method, TINY).parameters())


def test_parameter_counts_order():
    counts = {m: sum(p.numel() for p in build_model(m, SupervisedConfig()).parameters()) for m in METHODS}
    assert counts["shared"] < counts["fixed"] < counts["independent"]


def test_learning_happens():
    # chance (majority-class rate) on every balanced test set is 0.5
    config = replace(SupervisedConfig(), steps=200)
    for method in ("shared", "fixed"):
        assert run_method(method, 0, config)["mean_accuracy"] > 0.8, method


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="valid"):
        run_method("nope", 0, TINY)
    script = load_script()
    with pytest.raises(ValueError, match="routing_reinforce"):
        script.main(script.Args(methods=("nope",), seeds=(0,), config=TINY))


def test_unknown_reward_raises():
    with pytest.raises(ValueError, match="neg_loss"):
        run_method("routing_reinforce", 0, replace(TINY, reward="bad"))


def test_script_writes_json_and_png(tmp_path, capsys):
    script = load_script()
    args = script.Args(methods=("shared", "routing_reinforce"), seeds=(0, 1), out=str(tmp_path),
                       config=replace(TINY, steps=10))
    script.main(args)
    records = json.loads((tmp_path / "digits_mtl.json").read_text())
    assert len(records) == 4
    assert {(r["method"], r["seed"]) for r in records} == {(m, s) for m in ("shared", "routing_reinforce") for s in (0, 1)}
    for r in records:
        assert {"method", "seed", "mean_accuracy", "parameters"} <= set(r)
    png = (tmp_path / "digits_mtl.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "routing_reinforce" in capsys.readouterr().out
