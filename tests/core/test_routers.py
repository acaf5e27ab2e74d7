"""Every router from one table, plus Routing and Path values and the routing-policy losses."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Callable

import pytest
import torch

from modrl import (
    FixedRouter, GumbelRouter, HierarchicalRouter, Path, PolicyRouter, RewardBaseline, Routing,
    SoftMoERouter, TopKRouter, build_router, collaboration_reward, ppo_clip_loss, reinforce_loss,
)

B, D, M, T = 24, 5, 4, 3


@dataclass
class Case:
    make: Callable[[], torch.nn.Module]
    hard: bool  # produces indices
    k: int  # modules per sample when hard
    stochastic: bool  # samples differ between seeds while training
    learns: str | None  # "weights": gradients through the routing weights; "policy": through log-probs
    normalised: bool = True  # dense weights sum to one per sample


ASSIGN_K2 = [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]

ROUTER_CASES = {
    "fixed_k1": Case(lambda: FixedRouter(torch.eye(T, M, dtype=torch.long)), True, 1, False, None),
    "fixed_k2": Case(lambda: FixedRouter(ASSIGN_K2), True, 2, False, None),
    "soft": Case(lambda: SoftMoERouter(M, in_features=D, num_tasks=T), False, 0, False, "weights"),
    "soft_task_only": Case(lambda: SoftMoERouter(M, num_tasks=T), False, 0, False, "weights"),
    "topk1": Case(lambda: TopKRouter(M, k=1, in_features=D), True, 1, True, "weights", normalised=False),
    "topk2": Case(lambda: TopKRouter(M, k=2, in_features=D, num_tasks=T), True, 2, True, "weights"),
    "topk2_clean": Case(lambda: TopKRouter(M, k=2, in_features=D, noisy=False), True, 2, False, "weights"),
    "gumbel_soft": Case(lambda: GumbelRouter(M, in_features=D), False, 0, True, "weights"),
    "gumbel_hard": Case(lambda: GumbelRouter(M, in_features=D, num_tasks=T, hard=True), True, 1, True, "weights"),
    "policy": Case(lambda: PolicyRouter(M, in_features=D, num_tasks=T, epsilon=0.2), True, 1, True, "policy"),
    "hierarchical_hard": Case(
        lambda: HierarchicalRouter(PolicyRouter(2, in_features=D), [PolicyRouter(2, in_features=D) for _ in range(2)]),
        True, 1, True, "policy"),
    "hierarchical_soft": Case(
        lambda: HierarchicalRouter(SoftMoERouter(2, in_features=D),
                                   [SoftMoERouter(2, num_tasks=T), GumbelRouter(2, in_features=D)]),
        False, 0, True, "weights"),
}


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, D, generator=g) * 3, torch.randint(0, T, (B,), generator=g)


def make(case: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    router = ROUTER_CASES[case].make()
    with torch.no_grad():  # routers start near-uniform; spread the logits so choices differ
        for p in router.parameters():
            p.add_(torch.randn_like(p))
    return router


@pytest.mark.parametrize("case", ROUTER_CASES)
def test_router_output_is_a_valid_routing(case):
    spec, router = ROUTER_CASES[case], make(case)
    x, ids = batch()
    r = router(x, ids)
    assert isinstance(r, Routing) and r.is_hard == spec.hard and r.batch_size == B
    assert router.num_modules == M
    if spec.hard:
        assert r.indices.shape == (B, spec.k) and r.indices.dtype == torch.long
        assert ((r.indices >= 0) & (r.indices < M)).all()
        w = r.hard_weights()
        assert w.shape == (B, spec.k) and (w > 0).all() and (w <= 1 + 1e-6).all()
    else:
        assert r.weights.shape == (B, M) and (r.weights >= 0).all()
    dense = r.dense_weights(M)
    assert dense.shape == (B, M) and torch.isfinite(dense).all()
    if spec.normalised:
        torch.testing.assert_close(dense.sum(1), torch.ones(B))
    else:
        assert ((dense.sum(1) > 0) & (dense.sum(1) <= 1)).all()
    if spec.hard and spec.stochastic or case == "topk2_clean":  # input-dependent choices: not all the same
        assert r.indices[:, 0].unique().numel() > 1
    if r.entropy is not None:
        assert r.entropy.shape == (B,) and torch.isfinite(r.entropy).all()
    assert r.aux_loss().shape == ()


def test_fixed_router_reads_the_assignment():
    r = FixedRouter(ASSIGN_K2)(None, torch.tensor([2, 0, 1, 0]))
    assert r.indices.tolist() == [[2, 3], [0, 1], [1, 2], [0, 1]]
    torch.testing.assert_close(r.hard_weights(), torch.full((4, 2), 0.5))
    assert FixedRouter.one_per_task(3)(None, torch.tensor([2, 1])).indices.tolist() == [[2], [1]]


@pytest.mark.parametrize("case", ROUTER_CASES)
def test_router_gradients(case):
    spec, router = ROUTER_CASES[case], make(case)
    params = list(router.parameters())
    if spec.learns is None:
        assert params == []
        return
    x, ids = batch()
    r = router(x, ids)
    if spec.learns == "weights":
        target = torch.randn(B, M, generator=torch.Generator().manual_seed(7))
        (r.dense_weights(M) * target).sum().backward()
    else:
        assert r.log_probs is not None and r.log_probs.shape == (B,)
        rewards = torch.randn(B, generator=torch.Generator().manual_seed(7))
        reinforce_loss(r.log_probs, rewards).backward()
    named = dict(router.named_parameters())
    if case == "topk1":  # the noise net only moves the choice, which carries no gradient with k = 1
        named = {n: p for n, p in named.items() if not n.startswith("noise.")}
    for name, p in named.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case", ROUTER_CASES)
def test_router_says_whether_it_learns_from_weights(case):
    spec, router = ROUTER_CASES[case], make(case)
    assert router.learns_from_weights() == (spec.learns == "weights")
    if spec.learns == "weights":
        assert not router.requires_grad_(False).learns_from_weights()


@pytest.mark.parametrize("case", ROUTER_CASES)
def test_router_is_deterministic_under_a_seed(case):
    spec = ROUTER_CASES[case]
    x, ids = batch()
    outs = []
    for seed in (0, 0, 1):
        router = make(case)  # same parameters each time
        torch.manual_seed(seed)
        r = router(x, ids)
        outs.append(r.dense_weights(M).detach())
    assert torch.equal(outs[0], outs[1])
    assert torch.equal(outs[0], outs[2]) != spec.stochastic


@pytest.mark.parametrize("case", [c for c, s in ROUTER_CASES.items() if s.stochastic])
def test_router_eval_mode_is_deterministic(case):
    router = make(case).eval()
    x, ids = batch()
    a, b = (router(x, ids).dense_weights(M) for _ in range(2))
    assert torch.equal(a, b)


def test_topk1_weight_is_the_chosen_probability():
    router = make("topk1").eval()
    x, _ = batch()
    r = router(x)
    probs = torch.softmax(router.scores(x, None), -1)
    torch.testing.assert_close(r.weights, probs.gather(1, r.indices))
    assert r.aux_losses["load_balance"] > 0


def test_topk_load_balance_loss_reaches_scores():
    router = make("topk2_clean")
    x, _ = batch()
    router(x).aux_loss().backward()
    assert router.scores.from_input.weight.grad.abs().sum() > 0


def test_gumbel_anneals_and_hard_is_straight_through():
    router = GumbelRouter(M, in_features=D, hard=True, tau=2.0, tau_min=0.5, anneal_rate=0.1)
    assert router.anneal(0) == 2.0
    assert router.anneal(5) == pytest.approx(2.0 * 2.718281828 ** -0.5)
    assert router.anneal(1000) == 0.5
    r = router(batch()[0])
    torch.testing.assert_close(r.weights, torch.ones(B, 1))  # forward value 1, gradient from the soft sample


def test_hierarchical_anneals_its_annealing_routers():
    gumbel = lambda tau: GumbelRouter(2, in_features=D, tau=tau, tau_min=0.5, anneal_rate=0.1)  # noqa: E731
    router = HierarchicalRouter(gumbel(2.0), [SoftMoERouter(2, in_features=D), gumbel(3.0)])
    assert router.anneal(0) == [2.0, 3.0]
    assert router.anneal(1000) == [0.5, 0.5] and router.upper.tau == router.lower[1].tau == 0.5
    assert make("hierarchical_hard").anneal(5) == []


def test_policy_router_greedy_in_eval_and_ppo_gradients():
    router = make("policy")
    x, ids = batch()
    router.eval()
    r = router(x, ids)
    dist = router.distribution(x, ids)
    assert torch.equal(r.indices[:, 0], dist.probs.argmax(-1))
    router.train()
    r = router(x, ids)
    log_probs, entropy = router.evaluate(x, ids, r.indices)
    torch.testing.assert_close(log_probs, r.log_probs)
    assert entropy.shape == (B,)
    advantages = torch.randn(B, generator=torch.Generator().manual_seed(3))
    ppo_clip_loss(log_probs, r.log_probs.detach() - 0.05, advantages).backward()
    for name, p in router.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_ppo_clip_loss_clips():
    adv = torch.ones(3)
    old = torch.zeros(3)
    new = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)
    loss = ppo_clip_loss(new, old, adv, clip=0.2)
    # ratios 1, e, 1/e; positive advantage: min(ρ, clip(ρ)) = 1, 1.2, 1/e
    assert loss.item() == pytest.approx(-(1 + 1.2 + 2.718281828 ** -1) / 3, rel=1e-5)
    loss.backward()
    assert new.grad[1] == 0 and new.grad[0] != 0 and new.grad[2] != 0


def test_reinforce_loss_uses_advantage_and_entropy():
    lp = torch.tensor([-1.0, -2.0], requires_grad=True)
    loss = reinforce_loss(lp, torch.tensor([1.0, 3.0]), baseline=torch.tensor([1.0, 1.0]),
                          entropy=torch.tensor([0.5, 0.5]), entropy_coef=0.1)
    assert loss.item() == pytest.approx(-(0 * -1 + 2 * -2) / 2 - 0.05)
    loss.backward()
    torch.testing.assert_close(lp.grad, torch.tensor([0.0, -1.0]))


def test_reward_baseline_and_collaboration_reward():
    base = RewardBaseline(num_tasks=2, momentum=0.5)
    base.update(torch.tensor([1.0, 3.0, 10.0]), torch.tensor([0, 0, 1]))
    base.update(torch.tensor([4.0]), torch.tensor([0]))
    torch.testing.assert_close(base(torch.tensor([0, 1]), 2), torch.tensor([3.0, 10.0]))
    reward = collaboration_reward(torch.tensor([[0], [0], [0], [2]]), num_modules=3, weight=1.0)
    torch.testing.assert_close(reward, torch.tensor([0.75, 0.75, 0.75, 0.25]))


def test_hierarchical_hard_composes_indices_and_log_probs():
    router = make("hierarchical_hard")
    x, ids = batch()
    torch.manual_seed(5)
    r = router(x, ids)
    torch.manual_seed(5)
    top = router.upper(x, ids)
    subs = [lower(x, ids) for lower in router.lower]
    group = top.indices[:, 0]
    within = torch.stack([s.indices[:, 0] for s in subs], 1).gather(1, group[:, None])[:, 0]
    assert torch.equal(r.indices[:, 0], group * 2 + within)
    lp = top.log_probs + torch.stack([s.log_probs for s in subs], 1).gather(1, group[:, None])[:, 0]
    torch.testing.assert_close(r.log_probs, lp)
    assert group.unique().numel() == 2


def test_hierarchical_soft_is_the_outer_product():
    router = make("hierarchical_soft").eval()
    x, ids = batch()
    r = router(x, ids)
    top = router.upper(x, ids).weights
    inner = torch.stack([lower(x, ids).weights for lower in router.lower], 1)
    torch.testing.assert_close(r.weights, (top[:, :, None] * inner).flatten(1))


# -- clear errors -----------------------------------------------------------------------------

CALL_ERRORS = {
    "fixed_no_ids": (lambda: FixedRouter.one_per_task(3)(None, None), "needs metadata ids"),
    "fixed_ids_range": (lambda: FixedRouter.one_per_task(3)(None, torch.tensor([0, 3])), r"\[0, 3\)"),
    "fixed_ids_negative": (lambda: FixedRouter.one_per_task(3)(None, torch.tensor([-1, 0])), r"\[0, 3\)"),
    "fixed_ids_shape": (lambda: FixedRouter.one_per_task(3)(None, torch.zeros(2, 1, dtype=torch.long)), "shape"),
    "soft_x_width": (lambda: SoftMoERouter(M, in_features=D)(torch.randn(2, D + 1)), rf"\[B, {D}\]"),
    "soft_x_missing": (lambda: SoftMoERouter(M, in_features=D)(None), rf"\[B, {D}\]"),
    "fixed_float_ids": (lambda: FixedRouter.one_per_task(3)(None, torch.tensor([0.0, 1.7])),
                        r"metadata ids must be integer \(e.g. torch.long\), got torch.float32"),
    "fixed_bool_ids": (lambda: FixedRouter.one_per_task(3)(None, torch.tensor([True, False])), "must be integer"),
    "soft_float_task_ids": (lambda: SoftMoERouter(M, num_tasks=T)(None, torch.tensor([0.0, 1.0])),
                            "task ids must be integer"),
    "soft_ids_batch": (lambda: SoftMoERouter(M, in_features=D, num_tasks=T)(torch.randn(2, D), torch.zeros(3, dtype=torch.long)),
                       r"shape \[2\]"),
    "hier_mixed": (lambda: HierarchicalRouter(PolicyRouter(2, in_features=D),
                                              [SoftMoERouter(2, in_features=D)] * 2)(torch.randn(2, D)), "both levels"),
    "hier_k2": (lambda: HierarchicalRouter(TopKRouter(2, k=2, in_features=D),
                                           [PolicyRouter(2, in_features=D)] * 2)(torch.randn(2, D)), "k = 1"),
}

CONFIG_ERRORS = {
    "assignment_not_binary": (lambda: FixedRouter([[1, 2], [0, 1]]), "0/1"),
    "assignment_1d": (lambda: FixedRouter([1, 0]), "0/1"),
    "assignment_empty_row": (lambda: FixedRouter([[1, 0], [0, 0]]), "same number"),
    "assignment_uneven": (lambda: FixedRouter([[1, 1, 0], [0, 0, 1]]), "same number"),
    "topk_k_too_big": (lambda: TopKRouter(M, k=M + 1, in_features=D), "k must be in"),
    "topk_k_zero": (lambda: TopKRouter(M, k=0, in_features=D), "k must be in"),
    "no_inputs": (lambda: SoftMoERouter(M), "in_features > 0"),
    "zero_modules": (lambda: PolicyRouter(0, in_features=D), "num_modules"),
    "gumbel_tau": (lambda: GumbelRouter(M, in_features=D, tau=0.0), "positive"),
    "policy_epsilon": (lambda: PolicyRouter(M, in_features=D, epsilon=1.5), "epsilon"),
    "baseline_momentum": (lambda: RewardBaseline(momentum=1.0), "momentum"),
    "unknown_kind": (lambda: build_router("switch", num_modules=M), r"unknown router kind 'switch'; valid: \[.*'fixed'.*'topk'"),
    "hier_group_count": (lambda: HierarchicalRouter(PolicyRouter(3, in_features=D), [PolicyRouter(2, in_features=D)] * 2),
                         "3 groups"),
    "hier_group_sizes": (lambda: HierarchicalRouter(PolicyRouter(2, in_features=D),
                                                    [PolicyRouter(2, in_features=D), PolicyRouter(3, in_features=D)]),
                         "same size"),
    "routing_empty": (lambda: Routing(), "indices, weights"),
    "routing_float_indices": (lambda: Routing(indices=torch.zeros(2, 1)), "long"),
    "routing_weights_shape": (lambda: Routing(indices=torch.zeros(2, 1, dtype=torch.long), weights=torch.ones(2, 2)), "must match"),
    "routing_soft_rank": (lambda: Routing(weights=torch.ones(4)), r"\[B, M\]"),
}


@pytest.mark.parametrize("case", [*CALL_ERRORS, *CONFIG_ERRORS])
def test_router_errors(case):
    call, match = {**CALL_ERRORS, **CONFIG_ERRORS}[case]
    with pytest.raises(ValueError, match=match):
        call()


def test_build_router_by_name():
    router = build_router("topk", num_modules=M, in_features=D, k=2)
    assert isinstance(router, TopKRouter) and router.kind == "topk" and router.k == 2


# -- Path -------------------------------------------------------------------------------------


def test_path_random_is_seeded_and_valid():
    a = Path.random(5, 6, active=2, rng=random.Random(0))
    b = Path.random(5, 6, active=2, rng=random.Random(0))
    c = Path.random(5, 6, active=2, rng=random.Random(1))
    assert a == b and a != c and len(a) == 5
    assert all(len(set(layer)) == 2 and all(0 <= m < 6 for m in layer) for layer in a.choices)


def test_path_mutate():
    path = Path.random(6, 5, rng=random.Random(0))
    assert path.mutate(5, rate=0.0, rng=random.Random(1)) == path
    moved = path.mutate(5, rate=1.0, rng=random.Random(1), spread=2)
    assert moved != path and len(moved) == len(path)
    assert all(0 <= m < 5 for layer in moved.choices for m in layer)
    assert all(min(abs(a[0] - b[0]), 5 - abs(a[0] - b[0])) <= 2 for a, b in zip(path.choices, moved.choices))


def test_path_dict_round_trip_and_routing():
    path = Path(((0, 2), 1, [3]))
    assert path.choices == ((0, 2), (1,), (3,))
    data = json.loads(json.dumps(path.to_dict()))
    assert Path.from_dict(data) == path
    r = path.routing(0, 7)
    assert r.indices.shape == (7, 2) and (r.indices == torch.tensor([0, 2])).all()
    torch.testing.assert_close(r.hard_weights(), torch.full((7, 2), 0.5))
    assert path.routing(2, 3).indices.tolist() == [[3], [3], [3]]


PATH_ERRORS = {
    "empty_layer": (lambda: Path(((0,), ())), "at least one"),
    "negative": (lambda: Path(((0,), (-1,))), ">= 0"),
    "active_too_big": (lambda: Path.random(2, 3, active=4), "active"),
    "active_zero": (lambda: Path.random(2, 3, active=0), "active"),
}


@pytest.mark.parametrize("case", PATH_ERRORS)
def test_path_errors(case):
    call, match = PATH_ERRORS[case]
    with pytest.raises(ValueError, match=match):
        call()
