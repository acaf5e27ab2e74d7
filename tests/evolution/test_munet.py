"""µNet: scores on constructed cases, parent selection, children that start as their parent, and
earlier tasks that keep their predictions exactly."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch

from agents.evolution.munet import Model, MuNet, accounted_parameters, score, select_parent
from evo_fixtures import one_thread, sequence, tiny_munet  # noqa: F401  (fixtures)


def test_score_is_quality_times_base_to_the_relative_parameters():
    assert score(0.9, accounted=0.0, reference=1000.0, base=0.5) == 0.9
    assert score(0.8, accounted=1000.0, reference=1000.0, base=0.5) == pytest.approx(0.4)
    assert score(0.8, accounted=2000.0, reference=1000.0, base=0.5) == pytest.approx(0.2)
    assert score(0.8, accounted=5000.0, reference=1000.0, base=1.0) == 0.8  # base 1: plain quality
    # a module shared by 3 tasks (this one included) counts a third; an own module counts whole
    assert accounted_parameters([300, 100], [3, 1]) == pytest.approx(200.0)


def test_accounted_parameters_divide_shared_modules(sequence, tiny_munet):
    search = MuNet(sequence, replace(tiny_munet, generations=0), seed=0)
    search.run_task(0)
    path = search.path_of(0)
    own = search.accounted(path, task=0)
    assert own == pytest.approx(search.reference)  # the seed model: every module its own
    head = search.sizes[-1]
    assert search.accounted(path, task=1) == pytest.approx((search.reference - head) / 2 + head / 2)


def _model(i: int, s: float, offspring: int) -> Model:
    return Model(i, path=None, owned=(), lr=0, adapter=0, score=s, offspring=offspring)


def test_parent_selection_prefers_the_best_and_halves_per_offspring():
    rng = random.Random(0)
    fresh = [_model(0, 0.9, 0), _model(1, 0.8, 0)]
    assert all(select_parent(fresh, rng).id == 0 for _ in range(20))  # 0.5^0 = 1: always accepted
    tired = [_model(0, 0.9, 1), _model(1, 0.8, 0)]
    picks = [select_parent(tired, rng).id for _ in range(4000)]
    assert picks.count(0) / 4000 == pytest.approx(0.5, abs=0.03)


def test_a_child_starts_as_its_parent(sequence, tiny_munet):
    """Clones, a zero-initialised adapter, new hyperparameters and a restored (identity) layer: before
    training, the child computes exactly what its parent computes. Dropping a layer is the one
    mutation that changes the function (the layer becomes the identity)."""
    config = replace(tiny_munet, clone_rate=1.0, adapter_rate=1.0, hyper_rate=1.0, depth_rate=0.0)
    search = MuNet(sequence, config, seed=0)
    search.run_task(0)
    search.start_task(1)
    x = sequence.splits(1).x["val"]
    rng = random.Random(0)
    seen = set()
    for depth_rate in (0.0, 1.0, 1.0):  # the top layer is dropped and restored, in some order
        search.config = replace(config, depth_rate=depth_rate)
        parent = search.best()
        child = search._new_model(parent, rng, (1, 99, int(depth_rate * 10) + len(seen)))
        with torch.no_grad():
            same = torch.equal(search.net(x, path=child.path)[0], search.net(x, path=parent.path)[0])
        dropped = any(m.startswith("drop") for m in child.mutations)
        restored = any(m.startswith("restore") for m in child.mutations)
        seen |= {"drop"} if dropped else {"restore"} if restored else {"other"}
        if dropped:
            assert child.path.choices[3] == (0,)  # layer1's slot holds the identity
        else:
            assert same, child.mutations
        assert child.mutations
        assert all(child.path.choices[s] == (m,) for s, m in child.owned)  # it trains only what it runs
        search._score(child, parent.quality, 1)
        child.score = parent.score + 1  # accept it, so the next child mutates it further
        search.population.append(child)
    assert seen == {"drop", "restore", "other"}


def test_earlier_tasks_keep_their_predictions_exactly(sequence, tiny_munet):
    search = MuNet(sequence, replace(tiny_munet, clone_rate=0.5, adapter_rate=0.5), seed=1)
    predictions = {}
    for task in range(3):
        search.run_task(task)
        predictions[task] = search.predict(task, sequence.splits(task).x["test"])
        for earlier in range(task):
            assert torch.equal(search.predict(earlier, sequence.splits(earlier).x["test"]), predictions[earlier])
    rows = search.summary()
    assert [r["task"] for r in rows] == [0, 1, 2]
    assert all(0.5 <= r["test"] <= 1.0 and r["new_parameters"] > 0 for r in rows)
    assert rows[0]["reused_modules"] == 0


def test_a_full_slot_says_what_to_raise(sequence, tiny_munet):
    search = MuNet(sequence, replace(tiny_munet, capacity=2), seed=0)
    with pytest.raises(RuntimeError, match="layer1 is full .* raise --munet.capacity"):
        search.run_task(0)


def test_checkpoint_round_trip(sequence, tiny_munet):
    search = MuNet(sequence, tiny_munet, seed=2)
    search.run_task(0)
    search.start_task(1)
    search.step()
    copy = MuNet(sequence, tiny_munet, seed=2)
    copy.load_state_dict(search.state_dict())
    assert copy.run_task(1).to_dict() == search.run_task(1).to_dict()
