"""Digits-MTL supervised trainer: every registered method end to end at small scale, the registry,
learning, CLI outputs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import pytest
import tyro

pytest.importorskip("sklearn")

from agents.supervised.config import TrainConfig  # noqa: E402
from agents.supervised.digits import NUM_TASKS, make_digits_mtl  # noqa: E402
from agents.supervised.methods import SUPERVISED, ReinforceConfig, TopKConfig, Trunk  # noqa: E402
from agents.supervised.trainer import build_model, build_trunk, run_method  # noqa: E402
from modrl import FixedRouter  # noqa: E402

TINY = TrainConfig(steps=30, batch_size=32, hidden=8)


def n_params(method: str, config: TrainConfig, method_config=None) -> int:
    return sum(p.numel() for p in build_model(build_trunk(method, config, method_config), config).parameters())


@pytest.fixture
def registry(monkeypatch):
    """SUPERVISED as it is, restored after the test (so a test may register toy methods)."""
    monkeypatch.setattr(SUPERVISED, "_methods", dict(SUPERVISED._methods))
    return SUPERVISED


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


def test_builtin_methods_are_registered():
    assert SUPERVISED.names() == ["shared", "independent", "fixed", "soft_moe", "topk", "gumbel", "routing_reinforce"]


@pytest.mark.parametrize("method", SUPERVISED.names())
def test_every_method_builds_and_trains(method):
    record = run_method(method, 0, TINY)
    assert set(record) == {"method", "seed", "mean_accuracy", "parameters", "per_task_accuracy", "seconds",
                           "final_loss"}
    assert record["method"] == method and record["seed"] == 0
    assert math.isfinite(record["final_loss"])
    assert isinstance(record["mean_accuracy"], float) and 0.0 <= record["mean_accuracy"] <= 1.0
    assert len(record["per_task_accuracy"]) == NUM_TASKS
    assert record["parameters"] == n_params(method, TINY)


@pytest.mark.parametrize("method", SUPERVISED.names())
def test_method_config_defaults_are_used_when_none_is_given(method):
    config_cls = SUPERVISED.get(method).config_cls
    if config_cls is None:
        with pytest.raises(ValueError, match="takes no config"):
            build_trunk(method, TINY, object())
    else:
        assert n_params(method, TINY) == n_params(method, TINY, config_cls())
        with pytest.raises(TypeError, match=config_cls.__name__):
            build_trunk(method, TINY, object())


def test_parameter_counts_order():
    counts = {m: n_params(m, TrainConfig()) for m in SUPERVISED.names()}
    assert counts["shared"] < counts["fixed"] < counts["independent"]
    assert n_params("topk", TrainConfig(), TopKConfig(num_modules=3)) < counts["topk"]


def test_learning_happens():
    # chance (majority-class rate) on every balanced test set is 0.5
    config = TrainConfig(steps=200)
    for method in ("shared", "fixed"):
        assert run_method(method, 0, config)["mean_accuracy"] > 0.8, method


def test_unknown_method_lists_the_valid_ones(script):
    with pytest.raises(ValueError, match="valid") as err:
        run_method("nope", 0, TINY)
    assert all(name in str(err.value) for name in SUPERVISED.names())
    digits = script("digits_mtl")
    with pytest.raises(ValueError, match="routing_reinforce"):
        digits.main(digits.Args(methods=("nope",), seeds=(0,), train=TINY))


def test_unknown_reward_raises():
    with pytest.raises(ValueError, match="neg_loss"):
        run_method("routing_reinforce", 0, TINY, ReinforceConfig(reward="bad"))


@dataclass
class ToyConfig:
    """a toy: every task on module 0 of 2, plus a scaled copy of the task loss"""

    scale: float = 0.5
    """weight of the extra loss term"""


def test_a_registered_toy_method_runs_without_touching_the_trainer(registry, script):
    calls = []

    @registry.register("toy", ToyConfig)
    def toy(config: ToyConfig, train: TrainConfig) -> Trunk:
        def extra_loss(step):
            calls.append(step.logits.shape)
            return [config.scale * step.losses.mean()]

        return Trunk(2, lambda width: FixedRouter([[1, 0]] * NUM_TASKS), routing_loss=lambda: extra_loss)

    config = replace(TINY, steps=5)
    record = run_method("toy", 0, config, ToyConfig(scale=0.1))
    assert record["method"] == "toy" and math.isfinite(record["final_loss"])
    assert calls == [(config.batch_size,)] * config.steps
    # the script's command line gains the method's group
    digits = script("digits_mtl")
    args = tyro.cli(digits.Args, args=["--methods", "toy", "--seeds", "0", "--train.steps", "3", "--toy.scale", "0.2"])
    assert args.toy == ToyConfig(scale=0.2)
    assert [r["method"] for r in digits.main(args)] == ["toy"]


def test_script_flags_nest_per_method(script):
    digits = script("digits_mtl")
    args = tyro.cli(digits.Args, args=["--train.steps", "7", "--topk.k", "3", "--routing-reinforce.reward", "neg_loss",
                                       "--soft-moe.router-input"])
    assert args.train == TrainConfig(steps=7)
    assert args.topk == TopKConfig(k=3) and args.routing_reinforce == ReinforceConfig(reward="neg_loss")
    assert args.soft_moe.router_input and not args.gumbel.router_input
    assert args.methods == tuple(SUPERVISED.names()) and not args.overwrite


def test_script_writes_json_and_png(tmp_path, capsys, script):
    digits = script("digits_mtl")
    args = digits.Args(methods=("shared", "routing_reinforce"), seeds=(0, 1), out=str(tmp_path),
                       train=replace(TINY, steps=10))
    digits.main(args)
    records = json.loads((tmp_path / "digits_mtl.json").read_text())
    assert len(records) == 4
    methods = ("shared", "routing_reinforce")
    assert {(r["method"], r["seed"]) for r in records} == {(m, s) for m in methods for s in (0, 1)}
    for r in records:
        assert {"method", "seed", "mean_accuracy", "parameters"} <= set(r)
    png = (tmp_path / "digits_mtl.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "routing_reinforce" in capsys.readouterr().out


def test_script_refuses_an_existing_output_unless_overwrite(tmp_path, script):
    digits = script("digits_mtl")
    existing = tmp_path / "digits_mtl.json"
    existing.write_text("[]")
    args = digits.Args(methods=("shared",), seeds=(0,), out=str(tmp_path), train=replace(TINY, steps=3))
    with pytest.raises(FileExistsError) as err:  # run_cli prints it in one line, exit status 2
        digits.main(args)
    message = str(err.value)
    assert str(existing) in message and "--out" in message and "--overwrite" in message and "\n" not in message
    assert existing.read_text() == "[]"
    digits.main(replace(args, overwrite=True))
    assert len(json.loads(existing.read_text())) == 1
