"""Learned routing on gymnasium suites (agents/routing): every routed policy trains end to end through
PPO and the policy contract; routers find a known routing on a two-context bandit; replayed choices
make PPO's first ratio exactly 1; stats, files and held-out pairs."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

import envs
from agents.common.multipair import MultiPairEnv
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.policies import POLICIES
from agents.rl.ppo import PPO, PPOConfig, Rollout, seed_everything
from agents.routing import ROUTING, RoutedPolicy, RoutingConfig
from agents.common.routing_config import HierarchicalConfig, ReinforceConfig
from agents.routing.files import load_routed, save_routed
from agents.routing.report import factorisation, heatmap, routing_report
from agents.routing.routers import FactoredRouter, MetadataEmbedding, behaviour_log_prob

ROUTED = ("routed-ppo", "routed-reinforce", "soft-modular", "hierarchical", "routed-gumbel", "routed-topk")
PAIRS = [("Arm2", "ReachBlue"), ("Arm3", "ReachRed")]  # (Arm2, ReachRed) held out: each factor trained elsewhere
SMALL = dict(layers=3, modules=4, hidden=16, head_hidden=16, embedding_dim=8)
TINY = dict(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2, checkpoint_every=100)
SPEC = SuiteSpec.from_suite(envs.ARMS)


def _policy(name: str, **settings) -> RoutedPolicy:
    return POLICIES.get(name).build(SPEC, SimpleNamespace(routing=RoutingConfig(**SMALL | settings)))


def _ppo(policy, updates: int = 3, **overrides) -> PPO:
    cfg = PPOConfig(**TINY | {"total_timesteps": updates * len(PAIRS) * 4 * 16} | overrides)
    return PPO(policy, MultiPairEnv(envs.ARMS, SPEC, PAIRS, cfg.num_envs), cfg, None, progress=False)


def _obs(n: int, robot: int, task: int) -> ObsBatch:
    g = torch.Generator().manual_seed(robot * 10 + task)
    return ObsBatch(torch.randn(n, SPEC.robot_width, generator=g), torch.randn(n, SPEC.task_width, generator=g),
                    torch.full((n,), robot), torch.full((n,), task))


def test_routed_policies_are_registered_and_build_without_routing_settings():
    assert set(ROUTED) <= set(POLICIES.names())
    policy = POLICIES.get("routed-ppo").build(SPEC, SimpleNamespace())  # no cfg.routing: the defaults
    assert policy.config == RoutingConfig() and len(policy.trunk.layers) == 3 and policy.config.modules > len(SPEC.tasks)


@pytest.mark.parametrize("per", ["step", "pair"])
@pytest.mark.parametrize("name", ROUTED)
def test_each_routed_policy_trains_end_to_end(name, per):
    seed_everything(0)
    policy = _policy(name, per=per, entropy_coef=0.01, balance_coef=0.01, collaboration=0.05, epsilon=0.05)
    routers = [p.detach().clone() for p in policy.trunk.router_parameters()]
    modules = [p.detach().clone() for p in policy.trunk.module_parameters()]
    history = _ppo(policy).train()
    assert len(history) == 3
    for record in history:
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl"):
            assert math.isfinite(record[key]), (name, key, record)
    assert any(not torch.equal(a, b) for a, b in zip(routers, policy.trunk.router_parameters()))  # routers learned
    assert any(not torch.equal(a, b) for a, b in zip(modules, policy.trunk.module_parameters()))  # and modules
    obs = _obs(6, 1, 2)
    replay = policy.draw(obs)
    assert (replay[ROUTING].shape == (6, 3) and int(replay[ROUTING].max()) < 4) if policy.hard else replay == {}
    dist = policy.distribution(obs, replay)
    assert dist.mean.shape == (6, SPEC.action_width) and dist.value.shape == (6,)
    assert (dist.choice_log_prob is not None) == (policy.trainer == "ppo")
    for routing in dist.routings:
        if policy.router_kind == "topk":  # the 2 best modules, softmax-weighted
            assert routing.indices.shape == (6, 2)
            torch.testing.assert_close(routing.weights.sum(1), torch.ones(6))
        elif routing.is_hard:
            assert routing.indices.shape == (6, 1) and routing.log_probs.shape == (6,)
        else:
            torch.testing.assert_close(routing.weights.sum(1), torch.ones(6))


@pytest.mark.parametrize("name", ["routed-ppo", "hierarchical"])
def test_first_minibatch_ratio_is_exactly_one(name):
    """The update replays the sampled choices (ε-greedy included), so before any step π_new = π_old:
    bit for bit on the rows of one acting step; on a minibatch up to float32 rounding, because a
    bank's matmul over a group of a few rows may round otherwise than over a larger group."""
    seed_everything(1)
    policy = _policy(name, epsilon=0.2)
    ppo = _ppo(policy)
    rollout, _, _ = ppo.collect(ppo.envs.reset(0))
    assert rollout.replay[ROUTING].shape == (16, len(PAIRS) * 4, 3)
    policy.train()
    step = Rollout(rollout.obs[3], {ROUTING: rollout.replay[ROUTING][3]}, *(getattr(rollout, k)[3] for k in
                   ("actions", "log_probs", "values", "advantages", "returns")))
    _, stats = ppo._losses(step)
    assert torch.equal(stats.log_ratio, torch.zeros_like(stats.log_ratio))
    batch = rollout.flatten()
    for mb in (batch[: ppo.minibatch_size], batch[torch.randperm(ppo.batch_size)[: ppo.minibatch_size]]):
        _, stats = ppo._losses(mb)
        assert float(stats.log_ratio.abs().max()) <= 2e-6


class Bandit:
    """Two contexts, (robot 0, task 0) and (robot 1, task 1); reward = share of layers whose module is the
    context's target. The action does not matter: only the routing does."""

    spec = SuiteSpec(("A", "B"), ("X", "Y"), {"A": 1, "B": 1}, {"X": 1, "Y": 1}, {"A": 1, "B": 1}, False)
    targets = torch.tensor([[0, 1, 2], [3, 2, 1]])

    def obs(self, n: int) -> ObsBatch:
        ids = torch.arange(2).repeat_interleave(n // 2)
        return ObsBatch(torch.zeros(n, 1), torch.zeros(n, 1), ids, ids)

    @torch.no_grad()
    def rollout(self, policy: RoutedPolicy, n: int) -> Rollout:
        obs = self.obs(n)
        replay = policy.draw(obs)
        dist = policy.distribution(obs, replay)
        action = dist.sample()
        reward = (replay[ROUTING] == self.targets[obs.robot_ids]).float().mean(1)
        first = lambda t: t.unsqueeze(0)  # noqa: E731  ([T = 1, N] as `collect` gives)
        return Rollout(ObsBatch.stack([obs]), {k: first(v) for k, v in replay.items()}, first(action),
                       first(dist.log_prob(action)), first(dist.value), first(reward - dist.value), first(reward))


@pytest.mark.parametrize("trainer", ["ppo", "reinforce"])
def test_routers_find_the_known_routing_of_a_two_context_bandit(trainer):
    seed_everything(0)
    bandit, n = Bandit(), 64
    config = RoutingConfig(layers=3, modules=4, hidden=4, head_hidden=4, embedding_dim=4, per="pair",
                           router_lr_scale=5.0, reinforce=ReinforceConfig(coef=1.0))
    policy = RoutedPolicy(bandit.spec, config, "flat", trainer, f"routed-{trainer}")
    greedy = train_on_bandit(policy, bandit, n)
    assert torch.equal(greedy, bandit.targets), greedy
    assert float(bandit.rollout(policy.train(), 256).returns.mean()) > 0.9  # sampled choices mostly right too


def train_on_bandit(policy: RoutedPolicy, bandit: Bandit, n: int, updates: int = 30) -> torch.Tensor:
    """PPO updates on `n`-row bandit rollouts; then each context's greedy path [2, layers]."""
    envs_stub = SimpleNamespace(size=n, device=torch.device("cpu"), pair_of_row=lambda: [("A", "X")] * n)
    ppo = PPO(policy, envs_stub, PPOConfig(num_envs=n, num_steps=1, num_minibatches=1, update_epochs=4,
                                           learning_rate=3e-3, total_timesteps=10**6, anneal_lr=False),
              None, progress=False)
    for _ in range(updates):
        ppo.learn(bandit.rollout(policy, n))
    policy.eval()
    return torch.cat([r.indices for r in policy.routing(bandit.obs(2))], 1)


def test_reinforce_needs_the_advantages():
    policy = _policy("routed-reinforce")
    obs = _obs(4, 0, 1)
    replay = policy.draw(obs)
    with pytest.raises(ValueError, match="advantages"):
        policy.aux_losses(obs, policy.distribution(obs, replay), replay)
    losses = policy.aux_losses(obs, policy.distribution(obs, replay), replay, torch.ones(4))
    assert set(losses) == {"reinforce"} and torch.isfinite(losses["reinforce"])


def test_held_out_pair_is_routed_from_its_two_trained_factors():
    """(Arm2, ReachRed) never trains, yet its routing is the routers' function of Arm2's embedding and
    ReachRed's, each moved by training with another partner."""
    seed_everything(2)
    policy = _policy("routed-ppo", per="pair", router_lr_scale=3.0)
    robot, task = SPEC.robot_id("Arm2"), SPEC.task_id("ReachRed")
    before = policy.embedding.robot[robot].detach().clone(), policy.embedding.task[task].detach().clone()
    _ppo(policy).train()
    assert not torch.equal(before[0], policy.embedding.robot[robot])  # trained with ReachBlue
    assert not torch.equal(before[1], policy.embedding.task[task])  # trained with Arm3
    meta = torch.tensor([[robot, task]])
    router = policy.trunk.layers[0].router
    scale = policy.embedding.scale  # parameters are stored divided by the router learning-rate scale
    context = scale * (policy.embedding.robot[robot] + policy.embedding.task[task])
    expected = torch.log_softmax(router.head(torch.tanh(context)).unsqueeze(0), -1)
    torch.testing.assert_close(router.log_probs(None, meta), expected)
    with torch.no_grad():  # another robot embedding, another routing: it is read, not looked up per pair
        policy.embedding.robot[robot] += 5.0
    assert not torch.allclose(router.log_probs(None, meta), expected)


def test_routing_stats_heatmap_and_factorisation_of_a_trained_policy(tmp_path):
    seed_everything(3)
    policy = _policy("routed-ppo")
    _ppo(policy, updates=2).train()
    pairs = PAIRS + [("Arm2", "ReachRed")]
    report = routing_report(policy, envs.ARMS, pairs, [("Arm2", "ReachRed")], episodes=3, steps=5)
    stats = report.pop("_stats")
    assert len(stats) == 3 and all(s.usage.shape == (3, 4) for s in stats)
    for layer in report["layers"]:
        torch.testing.assert_close(torch.tensor(layer["usage"]).sum(1), torch.ones(3))
        for key in ("robot_share", "task_share", "pair_share"):
            assert math.isnan(layer[key]) or -1e-6 <= layer[key] <= 1 + 1e-6
    assert heatmap(stats, [f"{r}:{t}" for r, t in pairs], tmp_path / "routing.png").stat().st_size > 0


def test_factorisation_tells_robot_routing_from_task_routing():
    pairs = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    by_robot = torch.eye(2).repeat_interleave(2, 0).numpy()  # robot a → module 0, b → module 1
    f = factorisation(by_robot, pairs)
    assert f["robot_share"] == pytest.approx(1.0) and f["task_share"] == pytest.approx(0.0)
    assert f["robot_accuracy"] == pytest.approx(1.0) and f["task_accuracy"] == pytest.approx(0.5)
    assert math.isnan(factorisation(torch.ones(4, 1).numpy(), pairs)["robot_share"])  # collapsed: nothing to explain


@pytest.mark.parametrize("name", ROUTED)
def test_save_then_load_gives_the_same_actions(name, tmp_path):
    seed_everything(4)
    policy = _policy(name)
    _ppo(policy, updates=1).train()
    paths = save_routed(policy, tmp_path, "arms")
    assert {tmp_path / "layer2" / "module3.pt", tmp_path / "robot" / "Arm4.pt", tmp_path / "critic" / "critic.pt",
            tmp_path / "routers.pt"} <= set(paths)
    loaded = load_routed(tmp_path, suite="arms")
    obs = _obs(8, 2, 1)
    policy.eval(), loaded.eval()
    a, b = policy.distribution(obs, {}), loaded.distribution(obs, {})
    torch.testing.assert_close(a.mean, b.mean)
    torch.testing.assert_close(a.value, b.value)
    torch.testing.assert_close(a.log_std, b.log_std)
    if policy.hard:
        replay = policy.draw(obs)
        torch.testing.assert_close(policy.distribution(obs, replay).log_prob(a.mean),
                                   loaded.distribution(obs, replay).log_prob(a.mean))
    with pytest.raises(ValueError, match="suite"):
        load_routed(tmp_path, suite="grid")


def test_hierarchical_log_probs_are_a_distribution_over_every_module():
    config = RoutingConfig(**SMALL | dict(modules=6), hierarchical=HierarchicalConfig(groups=3))
    policy = RoutedPolicy(SPEC, config, "hierarchical", "ppo", "hierarchical")
    router = policy.trunk.layers[1].router
    obs = _obs(5, 0, 0)
    x = torch.randn(5, 16)
    log_probs = router.log_probs(x, policy.meta(obs))
    assert log_probs.shape == (5, 6)
    torch.testing.assert_close(log_probs.logsumexp(-1), torch.zeros(5))


def test_epsilon_greedy_log_prob_is_the_mixture():
    log_probs = torch.log_softmax(torch.tensor([[2.0, 0.0, -1.0, 0.5]]), -1)
    choice = torch.tensor([2])
    expected = math.log(0.9 * math.exp(float(log_probs[0, 2])) + 0.1 / 4)
    assert float(behaviour_log_prob(log_probs, choice, 0.1)) == pytest.approx(expected)
    assert float(behaviour_log_prob(log_probs, choice, 1.0)) == pytest.approx(math.log(0.25))


@pytest.mark.parametrize("bad,match", [
    (dict(modules=1), "modules"), (dict(epsilon=1.5), "epsilon"), (dict(router_lr_scale=0.0), "router-lr-scale"),
    (dict(entropy_coef=-1.0), "entropy-coef"),
])
def test_bad_settings_fail_with_the_flag_named(bad, match):
    with pytest.raises(ValueError, match=match):
        RoutingConfig(**bad)


def test_hierarchical_groups_must_divide_the_modules_of_a_hierarchical_policy_only():
    config = RoutingConfig(**SMALL | {"modules": 6, "hierarchical": HierarchicalConfig(groups=4)})
    with pytest.raises(ValueError, match="groups 4 must divide --routing.modules 6"):
        RoutedPolicy(SPEC, config, "hierarchical", "ppo")
    assert RoutedPolicy(SPEC, config, "flat", "ppo").config.modules == 6  # flat routing has no groups


def test_routers_refuse_bad_metadata_and_bad_pairings():
    embedding = MetadataEmbedding(2, 3, 4)
    router = FactoredRouter(4, embedding)
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        router.log_probs(None, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="trains by"):
        RoutedPolicy(SPEC, RoutingConfig(**SMALL), "soft", "ppo")
    with pytest.raises(ValueError, match="unknown router"):
        RoutedPolicy(SPEC, RoutingConfig(**SMALL), "dense")


def test_bench_routed_policy_reports_the_ratio(script, tmp_path):
    bench = script("bench_routed_policy")
    out = bench.main(bench.Args(updates=2, json=tmp_path / "b.json", routing=RoutingConfig(**SMALL),
                                ppo=PPOConfig(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1)))
    assert out["routed_sps"] > 0 and out["modular_sps"] > 0 and out["routed_over_modular"] > 0
    assert (tmp_path / "b.json").exists()


def test_gumbel_straight_through_is_one_forward_and_reaches_the_routers_backward():
    policy = _policy("routed-gumbel")
    obs = _obs(8, 1, 0)
    replay = policy.draw(obs)
    dist = policy.distribution(obs, replay)
    for routing in dist.routings:
        torch.testing.assert_close(routing.weights, torch.ones(8, 1))
    assert dist.choice_log_prob is None and policy.aux_losses(obs, dist, replay, torch.ones(8)) == {}
    dist.mean.sum().backward()  # no routing loss: only the straight-through weights carry a gradient
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in policy.trunk.layers[0].router.head.parameters())


def test_topk_routes_each_row_to_its_k_best_scored_modules():
    policy = _policy("routed-topk", top_k=3)
    obs = _obs(5, 0, 2)
    routing = policy.distribution(obs, {}).routings[0]
    logits = policy.trunk.layers[0].router.logits(torch.cat([obs.robot, obs.task], -1), policy.meta(obs))
    assert torch.equal(routing.indices, logits.topk(3, -1).indices)
    with pytest.raises(ValueError, match="1 <= k <= 4"):
        _policy("routed-topk", top_k=5)


def test_the_routing_report_refuses_a_run_that_is_not_routed_in_one_line(tmp_path):
    from agents.routing.report import load_run

    run_dir = tmp_path / "modular" / "seed1"
    run_dir.mkdir(parents=True)
    (tmp_path / "config.json").write_text(json.dumps({"suite": "arms6", "interface": {}}))
    with pytest.raises(ValueError, match="is a 'modular' run, not a routed policy"):
        load_run(run_dir)
