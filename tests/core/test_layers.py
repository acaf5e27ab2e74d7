"""Aggregators from one table, RoutedLayer placements, RoutedNetwork levels and Paths, a learning check."""

from __future__ import annotations

import math

import pytest
import torch

from modrl import (
    AGGREGATORS, Attention, FixedRouter, GumbelRouter, HierarchicalRouter, Merge, ModuleBank, Path, PolicyRouter,
    Routing, RoutedLayer, RoutedNetwork, Sequential, SoftMoERouter, TopKRouter, WeightedSum, build_aggregator,
    build_module,
)

B, D, M = 9, 5, 4


def bank(seed: int = 0, kind: str = "mlp", **cfg) -> ModuleBank:
    torch.manual_seed(seed)
    cfg = cfg or dict(in_features=D, out_features=D, hidden=[6])
    b = ModuleBank(kind, M, **cfg)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return b


def x_(seed: int = 1, width: int = D) -> torch.Tensor:
    return torch.randn(B, width, generator=torch.Generator().manual_seed(seed))


G = torch.Generator().manual_seed(2)
SOFT_W = torch.softmax(torch.randn(B, M, generator=G), 1)
TOP2 = torch.stack([torch.arange(B) % M, (torch.arange(B) + 1) % M], 1)
TOP2_W = torch.softmax(torch.randn(B, 2, generator=G), 1)
UNIFORM = torch.full((B, M), 1.0 / M)


def per_module(b: ModuleBank, x: torch.Tensor) -> torch.Tensor:
    """[B, M, out] from standalone modules: the reference every aggregator is checked against."""
    return torch.stack([b.module(i)(x) for i in range(M)], 1)


def ref_sum(b, x, r):
    return (r.dense_weights(M).unsqueeze(-1) * per_module(b, x)).sum(1)


def ref_attention(agg):
    def ref(b, x, r):
        h = per_module(b, x)
        if r.is_hard:
            h = h.gather(1, r.indices[..., None].expand(-1, -1, h.shape[-1]))
            w = r.hard_weights()
        else:
            w = r.weights
        scores = h @ agg.query.detach() / math.sqrt(h.shape[-1]) + w.log()
        return (torch.softmax(scores, 1)[..., None] * h).sum(1)
    return ref


def ref_sequential(b, x, r):
    modules = [b.module(i) for i in range(M)]
    rows = []
    for s in range(B):
        h = x[s : s + 1]
        for j in r.indices[s]:
            h = modules[int(j)](h)
        rows.append(h)
    return torch.cat(rows)


def ref_merge(b, x, r):
    w, rows = r.dense_weights(M), []
    for s in range(B):
        module = build_module(b.kind, **b.config)
        module.load_state_dict({n: torch.einsum("m,m...->...", w[s], p.detach()) for n, p in b.stacked().items()})
        rows.append(module(x[s : s + 1]))
    return torch.cat(rows)


_attention = Attention(D)
# name: (aggregator, routing, reference)
AGGREGATOR_CASES = {
    "sum_soft": (WeightedSum(), Routing(weights=SOFT_W), ref_sum),
    "sum_top1": (WeightedSum(), Routing(indices=TOP2[:, :1]), ref_sum),
    "sum_top2": (WeightedSum(), Routing(indices=TOP2, weights=TOP2_W), ref_sum),
    "attention_soft": (_attention, Routing(weights=SOFT_W), ref_attention(_attention)),
    "attention_top2": (_attention, Routing(indices=TOP2, weights=TOP2_W), ref_attention(_attention)),
    "sequential_top1": (Sequential(), Routing(indices=TOP2[:, :1]), ref_sequential),
    "sequential_top2": (Sequential(), Routing(indices=TOP2), ref_sequential),
    "merge_soft": (Merge(), Routing(weights=SOFT_W), ref_merge),
    "merge_shared": (Merge(), Routing(weights=UNIFORM), ref_merge),
    "merge_top2": (Merge(), Routing(indices=TOP2, weights=TOP2_W), ref_merge),
}


@pytest.mark.parametrize("case", AGGREGATOR_CASES)
def test_aggregator_matches_reference_and_gradients_reach_modules(case):
    agg, routing, ref = AGGREGATOR_CASES[case]
    b, x = bank(), x_()
    y = agg(b, x, routing)
    assert y.shape == (B, D) and torch.isfinite(y).all()
    torch.testing.assert_close(y, ref(b, x, routing), rtol=1e-5, atol=1e-5)
    y.pow(2).sum().backward()
    used = routing.dense_weights(M).sum(0) > 0 if routing.is_hard else torch.ones(M, dtype=torch.bool)
    for p in b.params:
        per_row = p.grad.abs().flatten(1).sum(1)
        assert (per_row[used] > 0).all() and (per_row[~used] == 0).all()
    if isinstance(agg, Attention):
        assert agg.query.grad.abs().sum() > 0


@pytest.mark.parametrize("case", [c for c in AGGREGATOR_CASES if not c.startswith("sequential")])
def test_aggregator_passes_gradients_to_a_soft_router(case):
    agg, routing, _ = AGGREGATOR_CASES[case]
    torch.manual_seed(0)
    router = SoftMoERouter(M, in_features=D)
    x = x_()
    r = router(x)
    if routing.is_hard:  # keep the table's choices, weighted by the router's probabilities for them
        r = Routing(indices=routing.indices, weights=r.weights.gather(1, routing.indices))
    agg(bank(), x, r).pow(2).sum().backward()
    assert router.scores.from_input.weight.grad.abs().sum() > 0


AGGREGATOR_ERRORS = {
    "batch_mismatch": (WeightedSum(), Routing(weights=SOFT_W[:3]), "batch of 3"),
    "soft_width": (WeightedSum(), Routing(weights=torch.ones(B, M + 1)), "soft routing over 5"),
    "sequential_soft": (Sequential(), Routing(weights=SOFT_W), "hard routing"),
    "attention_width": (Attention(D + 1), Routing(weights=SOFT_W), "query has 6"),
    "merge_batch": (Merge(), Routing(indices=TOP2[:2]), "batch of 2"),
}


@pytest.mark.parametrize("case", AGGREGATOR_ERRORS)
def test_aggregator_errors(case):
    agg, routing, match = AGGREGATOR_ERRORS[case]
    with pytest.raises(ValueError, match=match):
        agg(bank(), x_(), routing)


def test_sequential_k2_needs_square_modules():
    with pytest.raises(ValueError, match="in_features == out_features"):
        Sequential()(bank(kind="linear", in_features=D, out_features=3), x_(), Routing(indices=TOP2))


def test_build_aggregator_by_name():
    assert isinstance(build_aggregator("attention", features=3), Attention)
    with pytest.raises(ValueError, match=r"unknown aggregator kind 'mean'; valid: \['attention', 'merge'"):
        build_aggregator("mean")
    with pytest.raises(ValueError, match="features"):
        build_aggregator("attention", features=0)


# -- RoutedLayer placements ---------------------------------------------------------------------

# placement: (module kind and config, base layer in -> out, input width, formula)
PLACEMENT_CASES = {
    "before": ("prompt", dict(in_features=D, prompt_features=2), (D + 2, 3), D,
               lambda base, mods, x: base(mods(x))),
    "after": ("film", dict(in_features=3), (D, 3), D, lambda base, mods, x: mods(base(x))),
    "parallel": ("lora", dict(in_features=D, out_features=3, rank=2), (D, 3), D,
                 lambda base, mods, x: base(x) + mods(x)),
    "no_base": ("linear", dict(in_features=D, out_features=3), None, D, lambda base, mods, x: mods(x)),
}


@pytest.mark.parametrize("placement", PLACEMENT_CASES)
def test_routed_layer_placements(placement):
    kind, cfg, base_shape, width, formula = PLACEMENT_CASES[placement]
    b = bank(kind=kind, **cfg)
    torch.manual_seed(3)
    base = torch.nn.Linear(*base_shape) if base_shape else None
    layer = RoutedLayer(b, FixedRouter.one_per_task(M), base=base, placement=placement if base else "after")
    x, ids = x_(width=width), torch.arange(B) % M
    y, routing = layer(x, ids)
    assert y.shape == (B, 3) and torch.equal(routing.indices[:, 0], ids)
    modules = [b.module(i) for i in range(M)]
    per_sample = lambda h: torch.cat([modules[int(t)](h[s : s + 1]) for s, t in enumerate(ids)])  # noqa: E731
    torch.testing.assert_close(y, formula(base, per_sample, x), rtol=1e-5, atol=1e-5)
    y.pow(2).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in layer.parameters())  # base and modules learn


LAYER_ERRORS = {
    "placement": (lambda: RoutedLayer(bank(), placement="inside"), r"unknown placement 'inside'; valid: \['before'"),
    "router_size": (lambda: RoutedLayer(bank(), FixedRouter.one_per_task(M + 1)), "routes over 5 modules"),
    "no_router": (lambda: RoutedLayer(bank())(x_()), "no router"),
    "level": (lambda: RoutedNetwork([RoutedLayer(bank())], level="tree"), r"unknown routing level 'tree'; valid"),
    "empty": (lambda: RoutedNetwork([]), "at least one layer"),
    "activation": (lambda: RoutedNetwork([RoutedLayer(bank())], activation="swish"), "unknown activation"),
    "path_length": (lambda: RoutedNetwork([RoutedLayer(bank())] * 2)(x_(), path=Path(((0,),))), "path has 1 layers"),
    "ids_length": (lambda: two_streams()(x_(), ids=[TASKS]), r"ids has 1 entries \(one per layer\), network has 2"),
    "ids_length_tuple": (lambda: two_streams()(x_(), ids=(TASKS,) * 3), "ids has 3 entries"),
    "ids_named_no_reads": (lambda: two_streams(reads=("task", None))(x_(), ids={"task": TASKS}),
                           r"layers \[1\] have no `reads`"),
    "ids_named_missing": (lambda: two_streams()(x_(), ids={"task": TASKS}),
                          r"reads ids 'robot', but the given streams are \['task'\]"),
    "layer_named_no_reads": (lambda: RoutedLayer(bank(), FixedRouter.one_per_task(M))(x_(), {"task": TASKS}),
                             "no `reads`"),
    "float_ids": (lambda: two_streams()(x_(), ids=TASKS.float()), "ids must be integer"),
    "aux_loss_length": (lambda: two_streams().aux_loss([Routing(indices=TASKS[:, None])]),
                        "aux_loss got 1 routings, network has 2 layers"),
}


@pytest.mark.parametrize("case", LAYER_ERRORS)
def test_layer_errors(case):
    call, match = LAYER_ERRORS[case]
    with pytest.raises(ValueError, match=match):
        call()


LAYER_TYPE_ERRORS = {
    "bank_kind": (lambda: RoutedLayer("mlp", FixedRouter.one_per_task(M)),
                  r"bank must be a ModuleBank, not the kind name 'mlp': build one with ModuleBank\('mlp'"),
    "bank_module": (lambda: RoutedLayer(build_module("linear", in_features=D, out_features=D)),
                    "bank must be a ModuleBank, got Linear"),
    "router_kind": (lambda: RoutedLayer(bank(), "fixed"), r"router must be a Router, not the kind name 'fixed'.*build_router"),
    "aggregator_kind": (lambda: RoutedLayer(bank(), FixedRouter.one_per_task(M), "sum"),
                        r"aggregator must be an Aggregator, not the kind name 'sum'.*build_aggregator"),
    "reads": (lambda: RoutedLayer(bank(), FixedRouter.one_per_task(M), reads=1), "reads must be the name"),
}


@pytest.mark.parametrize("case", LAYER_TYPE_ERRORS)
def test_layer_type_errors(case):
    call, match = LAYER_TYPE_ERRORS[case]
    with pytest.raises(TypeError, match=match):
        call()


# aggregator, router, allowed: an aggregator that ignores weights refuses a router trained through them
AGGREGATOR_ROUTER_CASES = {
    "sequential_fixed": (Sequential, lambda: FixedRouter.one_per_task(M), True),
    "sequential_policy": (Sequential, lambda: PolicyRouter(M, in_features=D), True),  # learns from log-probs
    "sequential_hier_policy": (Sequential, lambda: HierarchicalRouter(
        PolicyRouter(2, in_features=D), [PolicyRouter(2, in_features=D) for _ in range(2)]), True),
    "sequential_frozen_topk": (Sequential, lambda: TopKRouter(M, k=1, in_features=D).requires_grad_(False), True),
    "sequential_soft": (Sequential, lambda: SoftMoERouter(M, in_features=D), False),
    "sequential_gumbel": (Sequential, lambda: GumbelRouter(M, in_features=D, hard=True), False),
    "sequential_topk": (Sequential, lambda: TopKRouter(M, k=1, in_features=D), False),
    "sequential_hier_gumbel": (Sequential, lambda: HierarchicalRouter(
        PolicyRouter(2, in_features=D), [GumbelRouter(2, in_features=D, hard=True), PolicyRouter(2, in_features=D)]),
        False),
    "sum_soft": (WeightedSum, lambda: SoftMoERouter(M, in_features=D), True),
    "merge_gumbel": (Merge, lambda: GumbelRouter(M, in_features=D), True),
}


@pytest.mark.parametrize("case", AGGREGATOR_ROUTER_CASES)
def test_aggregator_that_ignores_weights_refuses_a_learned_router(case):
    aggregator, router, allowed = AGGREGATOR_ROUTER_CASES[case]
    assert aggregator.uses_weights == (aggregator is not Sequential)
    if allowed:
        RoutedLayer(bank(), router(), aggregator())
        return
    with pytest.raises(ValueError, match=r"Sequential aggregation ignores routing weights.*\['attention', 'merge', 'sum'"):
        RoutedLayer(bank(), router(), aggregator())


def test_every_registered_aggregator_says_whether_it_uses_weights():
    assert {kind: cls.uses_weights for kind, cls in AGGREGATORS.items()} == {
        "sum": True, "attention": True, "merge": True, "sequential": False}


# -- per-layer and named ids ------------------------------------------------------------------

TASKS = torch.arange(B) % M
ROBOTS = (torch.arange(B) * 3 + 1) % M


def two_streams(reads: tuple[str | None, str | None] = ("task", "robot"), level: str = "layer") -> RoutedNetwork:
    """Layer 0 routes on one id stream, layer 1 on another (a task module feeding a robot module)."""
    layers = [RoutedLayer(bank(seed=i), FixedRouter.one_per_task(M), Sequential(), reads=r) for i, r in enumerate(reads)]
    return RoutedNetwork(layers, level=level)


# ids as given to forward → the ids each of the two layers must route on
IDS_CASES = {
    "one_tensor": (TASKS, (TASKS, TASKS)),
    "per_layer_list": ([TASKS, ROBOTS], (TASKS, ROBOTS)),
    "per_layer_tuple": ((ROBOTS, TASKS), (ROBOTS, TASKS)),
    "named": ({"task": TASKS, "robot": ROBOTS}, (TASKS, ROBOTS)),
    "named_extra_stream": ({"robot": ROBOTS, "task": TASKS, "goal": TASKS}, (TASKS, ROBOTS)),
}


@pytest.mark.parametrize("level", ["layer", "global"])
@pytest.mark.parametrize("case", IDS_CASES)
def test_network_ids_per_layer(case, level):
    ids, expected = IDS_CASES[case]
    net, x = two_streams(level=level), x_()
    y, routings = net(x, ids=ids)
    for routing, want in zip(routings, expected):
        assert torch.equal(routing.indices[:, 0], want)
    h = torch.relu(net.layers[0](x, expected[0])[0])
    torch.testing.assert_close(y, net.layers[1](h, expected[1])[0])


def test_per_layer_ids_may_be_none_for_a_router_that_reads_only_the_input():
    torch.manual_seed(0)
    layers = [RoutedLayer(bank(), SoftMoERouter(M, in_features=D)), RoutedLayer(bank(1), FixedRouter.one_per_task(M))]
    net = RoutedNetwork(layers)
    y, routings = net(x_(), ids=[None, ROBOTS])
    assert torch.equal(routings[1].indices[:, 0], ROBOTS)
    torch.testing.assert_close(y, net(x_(), ids=ROBOTS)[0])  # the soft router ignores ids: one tensor for all agrees


def test_a_path_needs_no_ids_even_with_named_layers():
    y, routings = two_streams()(x_(), ids={"nothing": TASKS}, path=Path(((1,), (2,))))
    assert [r.indices[0].tolist() for r in routings] == [[1], [2]]


def test_path_outside_the_bank_fails():
    net = RoutedNetwork([RoutedLayer(bank())])
    with pytest.raises(IndexError, match="range"):
        net(x_(), path=Path(((M,),)))


# -- RoutedNetwork ----------------------------------------------------------------------------


def network(level: str) -> RoutedNetwork:
    torch.manual_seed(0)
    layers = [RoutedLayer(bank(seed=i), SoftMoERouter(M, in_features=D)) for i in range(2)]
    for layer in layers:
        with torch.no_grad():
            layer.router.scores.from_input.weight.normal_()
    return RoutedNetwork(layers, activation="tanh", level=level)


@pytest.mark.parametrize("level", ["layer", "global"])
def test_network_routing_levels(level):
    net, x = network(level), x_()
    y, routings = net(x)
    assert y.shape == (B, D) and len(routings) == 2 and torch.isfinite(y).all()
    h1, r1 = net.layers[0](x)
    router_input = x if level == "global" else torch.tanh(h1)
    expected = net.layers[1].router(router_input).weights
    torch.testing.assert_close(routings[1].weights, expected)
    other = x if level == "layer" else torch.tanh(h1)
    assert not torch.allclose(routings[1].weights, net.layers[1].router(other).weights)
    torch.testing.assert_close(y, net.layers[1](torch.tanh(h1), routing=routings[1])[0])
    y.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_network_path_replaces_routers():
    net, x = network("layer"), x_()
    path = Path(((2,), (0, 3)))
    y, routings = net(x, path=path)
    assert [r.indices[0].tolist() for r in routings] == [[2], [0, 3]]
    layers = [[net.layers[l].bank.module(i) for i in range(M)] for l in range(2)]
    h = torch.tanh(layers[0][2](x))
    torch.testing.assert_close(y, (layers[1][0](h) + layers[1][3](h)) / 2, rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert all(p.grad is None for p in net.layers[0].router.parameters())
    assert net.aux_loss(routings) == 0


def test_network_hard_routers_and_aux_loss():
    torch.manual_seed(0)
    from modrl import TopKRouter

    layers = [RoutedLayer(bank(seed=i), TopKRouter(M, k=2, in_features=D)) for i in range(2)]
    net = RoutedNetwork(layers, level="global")
    y, routings = net(x_())
    aux = net.aux_loss(routings)
    assert aux > 0
    torch.testing.assert_close(aux, sum(r.aux_losses["load_balance"] for r in routings))
    (y.pow(2).sum() + aux).backward()
    assert all(layer.router.scores.from_input.weight.grad.abs().sum() > 0 for layer in layers)


def annealing_network() -> RoutedNetwork:
    torch.manual_seed(0)
    gumbel = lambda tau: GumbelRouter(2, in_features=D, tau=tau, tau_min=0.5, anneal_rate=0.1)  # noqa: E731
    routers = [GumbelRouter(M, in_features=D, tau=2.0, tau_min=0.5, anneal_rate=0.1),
               HierarchicalRouter(gumbel(3.0), [gumbel(4.0), SoftMoERouter(2, in_features=D)]),
               SoftMoERouter(M, in_features=D), None]
    return RoutedNetwork([RoutedLayer(bank(seed=i), r) for i, r in enumerate(routers)])


def test_network_anneals_every_annealing_router():
    net = annealing_network()
    assert net.anneal(0) == [2.0, 3.0, 4.0]
    temperatures = net.anneal(10)
    assert temperatures == pytest.approx([2.0 * math.exp(-1), 3.0 * math.exp(-1), 4.0 * math.exp(-1)])
    hierarchical = net.layers[1].router
    assert [net.layers[0].router.tau, hierarchical.upper.tau, hierarchical.lower[0].tau] == temperatures
    assert net.anneal(1000) == [0.5, 0.5, 0.5]


def test_router_and_module_parameters_partition_the_network():
    net = annealing_network()
    net.layers[3].base = torch.nn.Linear(D, D)
    router, module = list(net.router_parameters()), list(net.module_parameters())
    every = list(net.parameters())
    assert {id(p) for p in router} | {id(p) for p in module} == {id(p) for p in every}
    assert not {id(p) for p in router} & {id(p) for p in module} and len(router) + len(module) == len(every)
    named = dict(net.named_parameters())
    assert {id(p) for p in router} == {id(p) for n, p in named.items() if ".router." in n}
    assert {id(net.layers[3].base.weight), id(net.layers[0].bank.params[0])} <= {id(p) for p in module}


def test_gumbel_hard_layer_trains_its_router():
    torch.manual_seed(0)
    layer = RoutedLayer(bank(), GumbelRouter(M, in_features=D, hard=True))
    y, r = layer(x_())
    y.pow(2).sum().backward()
    assert layer.router.scores.from_input.weight.grad.abs().sum() > 0


# -- learning ---------------------------------------------------------------------------------


def test_fixed_routing_learns_two_conflicting_tasks():
    """Two linear tasks with opposite targets: a routed layer (one module per task) fits both,
    a single shared module cannot. Loss must drop at least 50x in 300 Adam steps."""
    torch.manual_seed(0)
    w = torch.randn(4, 1)
    x = torch.randn(256, 4)
    ids = torch.arange(256) % 2
    target = torch.where(ids[:, None] == 0, x @ w, -(x @ w))

    def train(model, routed: bool) -> tuple[float, float]:
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        losses = []
        for _ in range(300):
            out = model(x, ids)[0] if routed else model(x)
            loss = (out - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses[0], losses[-1]

    layer = RoutedLayer(ModuleBank("linear", 2, in_features=4, out_features=1), FixedRouter.one_per_task(2))
    first, last = train(layer, routed=True)
    assert last < first / 50, (first, last)
    _, shared_last = train(torch.nn.Linear(4, 1), routed=False)
    assert shared_last > 10 * last
