"""Per-episode routing (a path per env copy, drawn when its episode starts, held to its end, scored
once) and the two-stage layout (the modular policy's task and robot stages with learned routers)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

import envs
from agents.common.multipair import MultiPairEnv
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import MASKS, POLICIES, MonolithicPolicy
from agents.rl.ppo import PPO, PPOConfig, seed_everything
from agents.routing import ROUTING, RoutedPolicy, RoutingConfig
from agents.common.routing_config import ReinforceConfig
from agents.routing.files import load_routed, save_routed
from agents.routing.policy import DRAWN
from agents.routing.two_stage import TwoStageRoutedPolicy
from tests.conftest import load_script
from tests.routing.test_routing import Bandit, train_on_bandit

PAIRS = [("Arm2", "ReachBlue"), ("Arm3", "ReachRed")]
SMALL = dict(layers=3, modules=4, hidden=16, head_hidden=16, embedding_dim=8)
TINY = dict(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2, checkpoint_every=100)
SPEC = SuiteSpec.from_suite(envs.ARMS)
ARMS_INTERFACE = InterfaceConfig().resolve("arms")  # width 2, Gaussian noise replayed


def _policy(name: str, interface: InterfaceConfig | None = None, **settings) -> RoutedPolicy:
    cfg = SimpleNamespace(routing=RoutingConfig(**SMALL | settings), interface=interface)
    return POLICIES.get(name).build(SPEC, cfg)


def _ppo(policy, updates: int = 2) -> PPO:
    cfg = PPOConfig(**TINY | {"total_timesteps": updates * len(PAIRS) * 4 * 16})
    return PPO(policy, MultiPairEnv(envs.ARMS, SPEC, PAIRS, cfg.num_envs), cfg, None, progress=False)


def _obs(n: int) -> ObsBatch:
    g = torch.Generator().manual_seed(n)
    ids = torch.arange(n) % 3
    return ObsBatch(torch.randn(n, SPEC.robot_width, generator=g), torch.randn(n, SPEC.task_width, generator=g),
                    ids, ids.flip(0))


# -- per-episode routing ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["generic", "two-stage"])
def test_a_path_is_held_until_its_episode_ends_and_scored_only_where_drawn(layout):
    seed_everything(0)
    policy = _policy("routed-ppo", ARMS_INTERFACE, per="episode", layout=layout)
    obs = _obs(6)
    first = policy.draw(obs, torch.ones(6, dtype=torch.bool))
    assert bool(first[DRAWN].all())
    starts = torch.tensor([True, False, False, False, False, False])
    redrawn = set()
    for _ in range(20):
        replay = policy.draw(obs, starts)
        assert torch.equal(replay[ROUTING][1:], first[ROUTING][1:])  # mid-episode rows keep their path
        assert torch.equal(replay[DRAWN], starts)
        redrawn.add(tuple(replay[ROUTING][0].tolist()))
    assert len(redrawn) > 1  # the starting row draws afresh
    dist = policy.distribution(obs, replay)
    choice = dist.choice_log_prob.detach()
    assert torch.equal(choice[1:], torch.zeros(5)) and float(choice[0]) < 0


def test_per_episode_routing_refuses_a_stream_that_starts_mid_episode_and_soft_routing():
    policy = _policy("routed-ppo", per="episode")
    with pytest.raises(ValueError, match="mid-episode"):
        policy.draw(_obs(4), torch.tensor([True, False, True, True]))
    assert policy.draw(_obs(4))[DRAWN].all()  # no stream (starts None): every row draws, nothing is held
    assert policy._held.held is None
    with pytest.raises(ValueError, match="per pair or step"):
        _policy("soft-modular", per="episode")


def test_ppo_tells_the_policy_which_rows_begin_an_episode():
    """`starts` is all true after a reset, then each step's `ended` (arms reach episodes last 50 steps)."""
    seen, ended = [], []

    class Spy(MonolithicPolicy):
        def draw(self, obs, starts=None):
            seen.append(None if starts is None else starts.clone())
            return {}

    cfg = PPOConfig(num_envs=2, num_steps=60, num_minibatches=1, update_epochs=1, total_timesteps=120)
    ppo = PPO(Spy(SPEC), MultiPairEnv(envs.ARMS, SPEC, PAIRS[:1], 2), cfg, None, progress=False)
    step = ppo.envs.step
    ppo.envs.step = lambda action: ended.append((s := step(action)).ended.clone()) or s
    ppo.collect(ppo.envs.reset(0))
    assert bool(seen[0].all()) and len(seen) == 61  # 60 acting steps and the bootstrap's draw
    for t in range(60):  # the bootstrap value's draw too: the rows still in their episode keep their choices
        assert torch.equal(seen[t + 1], ended[t])
    assert any(bool(e.any()) for e in ended)


@pytest.mark.parametrize("layout", ["generic", "two-stage"])
@pytest.mark.parametrize("name", ["routed-ppo", "routed-reinforce", "hierarchical"])
def test_per_episode_routed_policies_train_with_finite_losses_and_exact_first_ratio(name, layout):
    seed_everything(1)
    policy = _policy(name, ARMS_INTERFACE, per="episode", layout=layout, epsilon=0.1)
    ppo = _ppo(policy)
    rollout, _, _ = ppo.collect(ppo.envs.reset(0))
    assert bool(rollout.replay[DRAWN][0].all()) and not bool(rollout.replay[DRAWN][1:].any())  # 16 < 50 steps
    policy.train()
    step = rollout.flatten()[: ppo.minibatch_size]
    _, stats = ppo._losses(step)
    assert float(stats.log_ratio.abs().max()) <= 2e-6
    for record in ppo.train():
        assert all(math.isfinite(record[k]) for k in ("policy_loss", "value_loss", "approx_kl")), record


# -- the two-stage layout --------------------------------------------------------------------


def test_two_stage_stages_read_what_the_modular_policy_reads():
    policy = _policy("routed-ppo", ARMS_INTERFACE, layout="two-stage", modules=5)
    task_stage, robot_stage = (layer.bank for layer in policy.trunk.layers)
    assert isinstance(policy, TwoStageRoutedPolicy) and len(policy.trunk.layers) == 2
    assert (task_stage.in_features, task_stage.out_features) == (SPEC.task_width, 2)
    assert (robot_stage.in_features, robot_stage.out_features) == (2 + SPEC.robot_width, SPEC.action_width)
    assert policy.banks() == {} and set(policy.routed_banks()) == {"layer0", "layer1"}
    obs = _obs(4)
    replay = policy.draw(obs)
    assert replay[MASKS].shape == (4, 2) and replay[ROUTING].shape == (4, 2)
    policy.eval()
    moved = ObsBatch(obs.robot + 1.0, obs.task, obs.robot_ids, obs.task_ids)
    a, b = policy.trunk_forward(obs, replay[ROUTING], False, masks=replay[MASKS]), \
        policy.trunk_forward(moved, replay[ROUTING], False, masks=replay[MASKS])
    assert not torch.equal(a[0], b[0])  # the robot stage reads the robot observation
    with pytest.raises(ValueError, match="consistency"):
        _policy("routed-ppo", InterfaceConfig(width=2, dropout=0.2, mode="consistency", noise="bernoulli"),
                layout="two-stage")


class StageBandit(Bandit):
    """The routing bandit of `test_routing` with one target module per stage (task, robot)."""

    targets = torch.tensor([[0, 1], [3, 2]])


@pytest.mark.parametrize("trainer", ["ppo", "reinforce"])
def test_two_stage_routers_find_the_known_routing_of_a_bandit(trainer):
    seed_everything(0)
    bandit, n = StageBandit(), 64
    config = RoutingConfig(layout="two-stage", modules=4, embedding_dim=4, per="pair", router_lr_scale=5.0,
                           reinforce=ReinforceConfig(coef=1.0))
    policy = TwoStageRoutedPolicy(bandit.spec, config, "flat", trainer, f"routed-{trainer}")
    greedy = train_on_bandit(policy, bandit, n)
    assert torch.equal(greedy, bandit.targets), greedy


@pytest.mark.parametrize("name", ["routed-ppo", "soft-modular"])
def test_two_stage_save_load_and_zero_shot_from_the_files(name, tmp_path):
    seed_everything(4)
    policy = _policy(name, ARMS_INTERFACE, layout="two-stage")
    _ppo(policy, updates=1).train()
    paths = save_routed(policy, tmp_path / "modules", "arms")
    assert {tmp_path / "modules" / "layer1" / "module3.pt", tmp_path / "modules" / "critic" / "critic.pt"} <= set(paths)
    loaded = load_routed(tmp_path / "modules", suite="arms")
    assert isinstance(loaded, TwoStageRoutedPolicy) and loaded.interface == policy.interface
    obs = _obs(8)
    policy.eval(), loaded.eval()
    a, b = policy.distribution(obs, {}), loaded.distribution(obs, {})
    torch.testing.assert_close(a.mean, b.mean)
    torch.testing.assert_close(a.value, b.value)
    torch.testing.assert_close(a.log_std, b.log_std)
    zero_shot = load_script("zero_shot")
    records = zero_shot.main(zero_shot.ZeroShotArgs(pairs=("Arm2:ReachRed", "Arm4:Push"), modules=tmp_path / "modules",
                                                    episodes=3))
    assert [(r["robot"], r["task"], r["policy"]) for r in records] == [("Arm2", "ReachRed", name), ("Arm4", "Push", name)]
    assert all(0.0 <= r["success_rate"] <= 1.0 for r in records)
    with pytest.raises(ValueError, match="--modules DIR"):
        zero_shot.main(zero_shot.ZeroShotArgs(pairs=("Arm2:ReachRed",), robots_from=tmp_path / "modules",
                                              tasks_from=tmp_path))


def test_each_update_records_what_the_routers_chose_for_tensorboard():
    seed_everything(5)
    policy = _policy("routed-reinforce", ARMS_INTERFACE, per="episode", layout="two-stage")
    history = _ppo(policy, updates=1).train()
    scalars = history[0]["scalars"]
    assert {f"routing/layer{i}/choice_entropy" for i in range(2)} <= set(scalars) <= {
        f"routing/layer{i}/{k}" for i in range(2) for k in ("choice_entropy", "robot_share", "task_share", "pair_share")}
    assert all(-1e-6 <= v <= math.log(4) + 1e-6 for v in scalars.values())
    by_robot = ObsBatch(torch.zeros(4, SPEC.robot_width), torch.zeros(4, SPEC.task_width), torch.tensor([0, 0, 1, 1]),
                        torch.tensor([0, 1, 0, 1]))
    shares = policy.rollout_scalars(by_robot, {ROUTING: torch.tensor([[0, 2], [0, 2], [1, 2], [1, 2]])})
    assert shares["routing/layer0/robot_share"] == pytest.approx(1.0) and shares["routing/layer0/task_share"] == 0
    assert "routing/layer1/robot_share" not in shares  # one module for every pair: nothing to explain
    assert _policy("soft-modular").rollout_scalars(by_robot, {}) == {}


def test_settings_a_routed_policy_refuses_fail_before_any_run():
    from agents.rl.experiment import ExperimentConfig

    with pytest.raises(ValueError, match="per pair or step"):  # routed-ppo would otherwise train first
        ExperimentConfig(policy=("routed-ppo", "soft-modular"), routing=RoutingConfig(per="episode"), out=None)
    with pytest.raises(ValueError, match="noises only in the update"):
        ExperimentConfig(suite="grid", policy=("routed-ppo",), routing=RoutingConfig(layout="two-stage"), out=None)


def test_top_k_two_stage_weighs_its_modules_log_stds_and_balances_its_weights():
    from agents.routing.policy import balance

    policy = _policy("routed-topk", ARMS_INTERFACE, layout="two-stage", top_k=2)
    with torch.no_grad():
        policy.stage_log_std.copy_(torch.arange(4.0).unsqueeze(1).expand(4, SPEC.action_width))
    obs = _obs(6)
    dist = policy.distribution(obs, {})
    robot_stage = dist.routings[-1]
    expected = (robot_stage.weights * robot_stage.indices.float()).sum(1, keepdim=True).expand(6, SPEC.action_width)
    torch.testing.assert_close(dist.log_std, expected)
    weights = robot_stage.dense_weights(4)
    assert float(balance(robot_stage, dist.probs[-1]).detach()) == pytest.approx(float(4 * (weights.mean(0) ** 2).sum()), rel=1e-5)
