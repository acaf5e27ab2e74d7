"""routing_stats from one table of routings with hand-computed usage, entropy and padding,
and padding checked against the rows `ModuleBank.forward_grouped` really computes."""

from __future__ import annotations

import json
import math

import pytest
import torch

from modrl import (
    FixedRouter, LayerStats, ModuleBank, Routing, RoutedLayer, RoutedNetwork, SoftMoERouter, TopKRouter,
    WeightedSum, routing_stats,
)


def h(*p: float) -> float:
    """Entropy (nats) of a distribution given by its nonzero probabilities."""
    return -sum(q * math.log(q) for q in p)


long = lambda *v: torch.tensor(v, dtype=torch.long)  # noqa: E731

# name: (routing, ids, num_modules, usage, count, entropy, load_entropy, padding)
STATS_CASES = {
    "hard_top1": (Routing(indices=long(0, 1, 1, 1, 3, 0)[:, None]), long(0, 0, 1, 1, 2, 2), 4,
                  [[0.5, 0.5, 0, 0], [0, 1, 0, 0], [0.5, 0, 0, 0.5]], [2, 2, 2], 0.0, h(1 / 3, 1 / 2, 1 / 6), 4 * 3 / 6),
    "hard_top1_inferred_width": (Routing(indices=long(0, 2, 2)[:, None]), None, None,
                                 [[1 / 3, 0, 2 / 3]], [3], 0.0, h(1 / 3, 2 / 3), 3 * 2 / 3),
    "hard_one_module": (Routing(indices=long(2, 2, 2)[:, None]), long(0, 1, 1), 4,
                        [[0, 0, 1, 0], [0, 0, 1, 0]], [1, 2], 0.0, 0.0, 1.0),
    "hard_absent_id": (Routing(indices=long(1, 0)[:, None]), long(2, 0), 2,
                       [[1, 0], [0, 0], [0, 1]], [1, 0, 1], 0.0, h(0.5, 0.5), 1.0),
    "hard_top2_weighted": (Routing(indices=long(0, 1, 0, 2).view(2, 2), weights=torch.tensor([[0.25, 0.75], [0.5, 0.5]])),
                           None, 4, [[0.5, 0.25, 0.25, 0]], [2], (h(0.25, 0.75) + h(0.5, 0.5)) / 2,
                           h(0.5, 0.25, 0.25), 4 * 2 / 4),
    "hard_router_entropy": (Routing(indices=long(0, 1)[:, None], entropy=torch.tensor([0.2, 0.4])), None, 2,
                            [[0.5, 0.5]], [2], 0.3, h(0.5, 0.5), 1.0),
    "soft_router_entropy": (Routing(weights=torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]),
                                    entropy=torch.tensor([0.1, 0.2, 0.3])), long(0, 1, 1), None,
                            [[0.5, 0.5], [0.5, 0.5]], [1, 2], 0.2, h(0.5, 0.5), None),
    "soft_weights_entropy": (Routing(weights=torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])), None, 2,
                             [[0.5, 0.5]], [3], h(0.5, 0.5) / 3, h(0.5, 0.5), None),
}


@pytest.mark.parametrize("case", STATS_CASES)
def test_routing_stats_match_hand_computed_values(case):
    routing, ids, m, usage, count, entropy, load_entropy, padding = STATS_CASES[case]
    (stats,) = routing_stats([routing], ids, num_modules=m)
    assert isinstance(stats, LayerStats)
    torch.testing.assert_close(stats.usage, torch.tensor(usage, dtype=torch.float32))
    assert stats.count.tolist() == count
    assert stats.entropy == pytest.approx(entropy, abs=1e-6)
    assert stats.load_entropy == pytest.approx(load_entropy, abs=1e-6)
    assert stats.padding == (None if padding is None else pytest.approx(padding))
    data = json.loads(json.dumps(stats.to_dict()))  # plain floats and lists
    torch.testing.assert_close(torch.tensor(data["usage"]), torch.tensor(usage, dtype=torch.float32))
    assert data["count"] == count and data["padding"] == stats.padding


# indices [B, k] → rows the grouped bank call pads to, per routed row
PADDING_CASES = {
    "top1_skewed": long(3, 0, 0, 2, 1, 3, 3, 0, 3, 3)[:, None],
    "top1_one_unused": long(0, 1, 1, 2, 0, 1)[:, None],
    "top2": long(0, 2, 1, 3, 3, 3, 2, 0, 1, 2, 0, 3).view(6, 2),
    "top1_single_module": long(1, 1, 1)[:, None],
}


@pytest.mark.parametrize("case", PADDING_CASES)
def test_padding_is_what_the_grouped_bank_call_computes(case, monkeypatch):
    indices = PADDING_CASES[case]
    bank = ModuleBank("linear", 4, in_features=3, out_features=3)
    rows = []
    real = bank._call_stacked
    monkeypatch.setattr(bank, "_call_stacked", lambda p, x: rows.append(x.shape[0] * x.shape[1]) or real(p, x))
    WeightedSum()(bank, torch.randn(indices.shape[0], 3), Routing(indices=indices))
    computed = rows[0] if rows else indices.numel()  # one module for the batch runs ungrouped, unpadded
    (stats,) = routing_stats([Routing(indices=indices)], num_modules=4)
    assert stats.padding == pytest.approx(computed / indices.numel())


def test_routing_stats_of_a_network_with_ids_per_layer():
    torch.manual_seed(0)
    b, d, m = 12, 5, 4
    layers = [RoutedLayer(ModuleBank("linear", m, in_features=d, out_features=d), router)
              for router in (SoftMoERouter(m, in_features=d), TopKRouter(m, k=2, in_features=d), FixedRouter.one_per_task(m))]
    net = RoutedNetwork(layers)
    tasks, robots = torch.arange(b) % 3, torch.arange(b) % m
    _, routings = net(torch.randn(b, d), ids=[None, None, robots])
    stats = routing_stats(routings, [tasks, tasks, robots], num_modules=m)
    assert [s.usage.shape for s in stats] == [(3, m), (3, m), (m, m)]
    assert [s.padding is None for s in stats] == [True, False, False]
    torch.testing.assert_close(stats[2].usage, torch.eye(m))  # robot r → module r
    torch.testing.assert_close(stats[0].usage.sum(1), torch.ones(3))
    assert stats[2].entropy == 0.0 and stats[2].load_entropy == pytest.approx(math.log(m))
    assert stats[0].entropy == pytest.approx(float(routings[0].entropy.detach().mean()))
    same = routing_stats(routings, tasks, num_modules=m)
    torch.testing.assert_close(same[1].usage, stats[1].usage)


STATS_ERRORS = {
    "ids_length": (lambda: routing_stats([Routing(indices=long(0, 1)[:, None])] * 2, [long(0, 1)]),
                   r"ids has 1 entries \(one per layer\), routings has 2"),
    "float_ids": (lambda: routing_stats([Routing(indices=long(0, 1)[:, None])], torch.tensor([0.0, 1.7])),
                  "ids must be integer"),
    "ids_shape": (lambda: routing_stats([Routing(indices=long(0, 1)[:, None])], long(0, 1, 1)), r"shape \[2\]"),
    "negative_ids": (lambda: routing_stats([Routing(indices=long(0, 1)[:, None])], long(0, -1)), ">= 0"),
    "num_modules_too_small": (lambda: routing_stats([Routing(indices=long(0, 3)[:, None])], num_modules=2),
                              "chose module 3, but num_modules is 2"),
    "soft_width": (lambda: routing_stats([Routing(weights=torch.ones(2, 3) / 3)], num_modules=4),
                   "soft routing over 3 modules, but num_modules is 4"),
}


@pytest.mark.parametrize("case", STATS_ERRORS)
def test_routing_stats_errors(case):
    call, match = STATS_ERRORS[case]
    with pytest.raises(ValueError, match=match):
        call()
