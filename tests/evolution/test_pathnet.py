"""PathNet: the search, transfer (freeze, re-initialise), the merge rule, checkpoints."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from agents.evolution.genotype import derive_seed
from agents.evolution.network import network_state, reinitialise_unfrozen
from agents.evolution.pathnet import PathNet, train_path
from evo_fixtures import one_thread, pairs, tiny_pathnet  # noqa: F401  (fixtures)


def rows(net, layer, module):
    return [p[module].clone() for p in net.layers[layer].bank.params]


def test_reinitialise_touches_exactly_the_unfrozen_modules(pairs, tiny_pathnet):
    search = PathNet(pairs, tiny_pathnet, seed=0)
    frozen = {0: {1, 3}, 1: {0}, 2: {1}}  # layer → frozen modules (layer 2: the heads)
    for layer, modules in frozen.items():
        search.net.layers[layer].bank.freeze(*modules)
    before = network_state(search.net)["params"]
    reinitialise_unfrozen(search.net, seed=123)
    for i, layer in enumerate(search.net.layers):
        for j, p in enumerate(layer.bank.params):
            old = before[f"layers.{i}.bank.params.{j}"]
            for m in range(layer.bank.num_modules):
                if m in frozen[i]:
                    assert torch.equal(p[m], old[m])
                elif old[m].abs().sum() > 0:  # (an all-zero initial bias may be drawn zero again)
                    assert not torch.equal(p[m], old[m]), (i, j, m)


def test_frozen_modules_never_change_while_a_later_task_trains(pairs, tiny_pathnet):
    search = PathNet(pairs, tiny_pathnet, seed=1)
    search.start_task(0)
    search.run_task()
    best = search.finish_task("transfer")
    path_a = best.path((0,))
    frozen = {(i, m): rows(search.net, i, m) for i, choices in enumerate(path_a.choices) for m in choices}
    x = pairs.splits(0).x["test"]
    with torch.no_grad():
        predictions = search.net(x, path=path_a)[0]
    search.start_task(1)
    search.run_task()
    assert search.generation == tiny_pathnet.max_generations
    for (i, m), values in frozen.items():
        for a, b in zip(values, rows(search.net, i, m)):
            assert torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(search.net(x, path=path_a)[0], predictions)  # task A answers exactly as before


def test_a_tiny_search_improves_fitness(pairs, tiny_pathnet):
    config = replace(tiny_pathnet, max_generations=12, threshold=1.01)
    search = PathNet(pairs, config, seed=0)
    search.start_task(0)
    search.run_task()
    mean = [r["mean_fitness"] for r in search.history]
    assert sum(mean[-3:]) / 3 > sum(mean[:3]) / 3 + 0.1
    assert max(r["best_fitness"] for r in search.history) > 0.9


def test_both_paths_train_from_the_snapshot_and_the_winner_keeps_shared_modules(pairs, tiny_pathnet):
    config = replace(tiny_pathnet, modules=2, active=2, tournaments=1)  # two paths that overlap a lot
    search = PathNet(pairs, config, seed=3)
    search.start_task(0)
    snapshot = network_state(search.net)
    before = list(search.population)
    record = search.step()
    winner = record["winners"][0]
    genes = {e["individual"]: e for e in record["evaluations"]}
    j = [e["individual"] for e in record["evaluations"]].index(winner)
    fitness, trained = train_path(pairs, config, snapshot, before[winner].to_dict(), 0, derive_seed(3, 3, 0, 0, j))
    assert fitness == genes[winner]["fitness"]  # the same job alone: same result (nothing leaked between paths)
    for i, choices in enumerate(before[winner].path((0,)).choices):
        for m in choices:
            for k, p in enumerate(search.net.layers[i].bank.params):
                assert torch.equal(p[m], trained[f"layers.{i}.bank.params.{k}"][m])


def test_a_checkpoint_continues_exactly(pairs, tiny_pathnet):
    config = replace(tiny_pathnet, max_generations=4, threshold=1.01)
    straight = PathNet(pairs, config, seed=5)
    straight.start_task(0)
    straight.run_task()
    interrupted = PathNet(pairs, config, seed=5)
    interrupted.start_task(0)
    interrupted.step(), interrupted.step()
    resumed = PathNet(pairs, config, seed=5)
    resumed.load_state_dict(interrupted.state_dict())
    resumed.run_task()
    assert resumed.history == straight.history
    with pytest.raises(ValueError, match="seed"):
        PathNet(pairs, config, seed=6).load_state_dict(interrupted.state_dict())


def test_mean_aggregation_and_bad_settings(pairs, tiny_pathnet):
    search = PathNet(pairs, replace(tiny_pathnet, aggregate="mean"), seed=0)
    search.start_task(1)
    assert search.step()["best_fitness"] > 0
    for bad in ({"aggregate": "max"}, {"boundary": "bounce"}, {"tournaments": 4}, {"mutation_rate": 2.0}):
        with pytest.raises(ValueError):
            replace(tiny_pathnet, **bad)
    with pytest.raises(ValueError, match="mode"):
        search.finish_task("forget")
