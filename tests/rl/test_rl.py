"""Short real runs of the RL stack: PPO on robot x task pairs, resume, modules, zero-shot evaluation."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import pytest
import torch

import envs
from agents.common.evaluate import evaluate
from agents.common.module_files import save_modules
from agents.common.multipair import MultiPairEnv
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.experiment import EvalConfig, ExperimentConfig, check_resumable, run
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import POLICIES, ModularPolicy, MonolithicPolicy
from agents.rl.ppo import PPO, PPOConfig, gae, seed_everything
from agents.rl.recombine import load_policy
from modrl import read_header, save_module

PAIRS = [("Arm2", "ReachRed"), ("Arm3", "ReachBlue")]
TINY = dict(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2, checkpoint_every=2)


def _ppo(policy, suite, pairs, run_dir=None, **overrides) -> PPO:
    cfg = PPOConfig(**(TINY | {"total_timesteps": 4 * len(pairs) * 4 * 16} | overrides))
    return PPO(policy, MultiPairEnv(suite, SuiteSpec.from_suite(suite), pairs, cfg.num_envs), cfg,
               run_dir, progress=False)


def test_gae_sums_discounted_td_errors_up_to_each_episode_end():
    torch.manual_seed(0)
    T, N, gamma, lam = 7, 3, 0.9, 0.8
    rewards, values, next_value = torch.randn(T, N), torch.randn(T, N), torch.randn(N)
    ended = torch.rand(T, N) < 0.3
    following = torch.cat([values[1:], next_value[None]])
    delta = rewards + gamma * following * (~ended).float() - values
    expected = torch.zeros(T, N)
    for n in range(N):
        for t in range(T):  # sum over l of (gamma lam)^l delta[t + l], stopping after the step that ends an episode
            for k in range(t, T):
                expected[t, n] += (gamma * lam) ** (k - t) * delta[k, n]
                if ended[k, n]:
                    break
    torch.testing.assert_close(gae(rewards, values, next_value, ended, gamma, lam), expected)


def _params(policy) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in policy.parameters()])


@pytest.mark.parametrize("suite_name,kind", [("arms", "modular"), ("arms", "monolithic"),
                                             ("grid", "modular"), ("grid", "monolithic")])
def test_ppo_updates_are_finite_and_change_parameters(suite_name, kind):
    suite = envs.get_suite(suite_name)
    seed_everything(0)
    policy = (ModularPolicy if kind == "modular" else MonolithicPolicy)(SuiteSpec.from_suite(suite))
    before = _params(policy).clone()
    pairs = suite.splits()["train"][:2]
    history = _ppo(policy, suite, pairs).train()
    assert len(history) == 4
    for record in history:
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl"):
            assert math.isfinite(record[key]), (key, record)
    assert not torch.equal(before, _params(policy))


def test_hyper_robot_modules_train_and_save_as_plain_modules(tmp_path):
    """Robot modules generated from a shared base learn with PPO, and their files load into a plain policy."""
    spec = SuiteSpec.from_suite(envs.ARMS)
    seed_everything(0)
    policy = ModularPolicy(spec, hyper_banks=("robot",))
    assert type(policy.robot_layer.bank).__name__ == "HyperBank"
    base = policy.robot_layer.bank.base.detach().clone()
    history = _ppo(policy, envs.ARMS, PAIRS).train()
    assert all(math.isfinite(r["approx_kl"]) for r in history)
    assert not torch.equal(base, policy.robot_layer.bank.base.detach())  # the shared base learned
    save_modules(policy, tmp_path, "arms")
    loaded = load_policy(spec, tmp_path, tmp_path, list(spec.robots), list(spec.tasks), suite="arms")
    obs = MultiPairEnv(envs.ARMS, spec, PAIRS, 2).reset(0)
    policy.eval(), loaded.eval()
    torch.testing.assert_close(policy(obs)[0], loaded(obs)[0])
    torch.testing.assert_close(policy.log_std(obs), loaded.log_std(obs))
    with pytest.raises(ValueError, match="unknown hyper_banks"):
        ModularPolicy(spec, hyper_banks=("gripper",))


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, monkeypatch):
    suite = envs.ARMS
    seed_everything(3)
    reference = ModularPolicy(SuiteSpec.from_suite(suite))
    start = {k: v.clone() for k, v in reference.state_dict().items()}
    _ppo(reference, suite, PAIRS, tmp_path / "full").train()

    interrupted = ModularPolicy(SuiteSpec.from_suite(suite))
    interrupted.load_state_dict(start)
    learn, calls = PPO.learn, []

    def crash_on_third_update(self, rollout):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return learn(self, rollout)

    monkeypatch.setattr(PPO, "learn", crash_on_third_update)
    with pytest.raises(KeyboardInterrupt):
        _ppo(interrupted, suite, PAIRS, tmp_path / "cut").train()
    monkeypatch.setattr(PPO, "learn", learn)
    assert (tmp_path / "cut" / "checkpoint.pt").exists()

    resumed = ModularPolicy(SuiteSpec.from_suite(suite))  # fresh weights: all state must come from the checkpoint
    ppo = _ppo(resumed, suite, PAIRS, tmp_path / "cut")
    history = ppo.train(resume=True)
    assert [h["update"] for h in history] == [1, 2, 3, 4]
    assert torch.equal(_params(reference), _params(resumed))


def test_replayed_dropout_masks_make_the_first_ratio_exact():
    """In dropout_mode="replay" the update sees the masks the policy acted with, and in "consistency"
    no mask at all: before any gradient step the probability ratio is exactly 1; in "update" mode it is not."""
    suite = envs.ARMS
    for (mode, exact), kind in itertools.product((("replay", True), ("consistency", True), ("update", False)),
                                                 ("bernoulli", "gaussian")):
        seed_everything(0)
        policy = ModularPolicy(SuiteSpec.from_suite(suite), InterfaceConfig(dropout=0.5, mode=mode, noise=kind))
        ppo = _ppo(policy, suite, PAIRS)
        rollout, _, _ = ppo.collect(ppo.envs.reset(0))
        assert bool(rollout.replay) == (mode == "replay")
        policy.train()
        batch = rollout.flatten()
        with torch.no_grad():
            new = policy.distribution(batch.obs, batch.replay).log_prob(batch.actions)
        assert torch.allclose(new, batch.log_probs, atol=1e-5) == exact
    with pytest.raises(ValueError, match="interface mode"):
        InterfaceConfig(mode="sometimes")


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_interface_noise_has_mean_one_and_dropouts_variance(kind):
    p = 0.2
    spec = SuiteSpec.from_suite(envs.ARMS)
    policy = ModularPolicy(spec, InterfaceConfig(dropout=p, mode="replay", noise=kind))
    seed_everything(0)
    rows = torch.zeros(50_000, dtype=torch.long)
    masks = policy.draw(ObsBatch(torch.zeros(50_000, spec.robot_width), torch.zeros(50_000, spec.task_width),
                                 rows, rows))["interface_masks"]
    assert masks.shape == (50_000, 2 * policy.interface_dim)
    assert masks.mean().item() == pytest.approx(1.0, abs=0.01)
    assert masks.var().item() == pytest.approx(p / (1 - p), rel=0.03)
    assert ((masks == 0).float().mean().item() > 0.15) == (kind == "bernoulli")  # gaussian never silences a unit
    with pytest.raises(ValueError, match="interface noise"):
        InterfaceConfig(noise="uniform")


@pytest.mark.parametrize("suite", [envs.ARMS, envs.GRID], ids=["arms", "grid"])
def test_consistency_regulariser_is_a_kl_that_trains_both_module_kinds(suite):
    spec = SuiteSpec.from_suite(suite)
    seed_everything(0)
    policy = ModularPolicy(spec, InterfaceConfig(dropout=0.5, mode="consistency"))
    for layer in (policy.task_layer, policy.robot_layer):  # a policy that is not near-constant
        for p in layer.bank.stacked().values():
            torch.nn.init.normal_(p.data, std=0.5)
    obs = MultiPairEnv(suite, spec, suite.splits()["train"][:3], 4).reset(0)
    dist = policy.train().distribution(obs, {})
    kl = policy.aux_losses(obs, dist, {})["consistency"]
    assert kl.item() > 0
    kl.backward()
    for layer in (policy.task_layer, policy.robot_layer):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.bank.stacked().values())
    assert policy.eval().aux_losses(obs, dist, {}) == {}  # only while training
    update_mode = ModularPolicy(spec, InterfaceConfig(dropout=0.5, mode="update")).train()
    assert update_mode.aux_losses(obs, dist, {}) == {}


def test_ppo_trains_through_one_flat_buffer_and_says_when_it_is_broken():
    seed_everything(0)
    policy = ModularPolicy(SuiteSpec.from_suite(envs.ARMS))
    ppo = _ppo(policy, envs.ARMS, PAIRS[:1])
    assert ppo.flat.numel() == sum(p.numel() for p in policy.parameters())
    before = ppo.flat.detach().clone()
    ppo.train()
    assert not torch.equal(before, ppo.flat.detach())
    assert torch.equal(_params(policy), ppo.flat.detach())  # the policy's parameters are the flat buffer
    policy.zero_grad(set_to_none=True)
    rollout, _, _ = ppo.collect(ppo.envs.reset(0))
    with pytest.raises(RuntimeError, match="flat buffer"):
        ppo.learn(rollout)


def test_resume_refuses_a_different_config(tmp_path):
    policy = ModularPolicy(SuiteSpec.from_suite(envs.ARMS))
    _ppo(policy, envs.ARMS, PAIRS[:1], tmp_path).train()
    with pytest.raises(ValueError, match="num_envs"):
        _ppo(policy, envs.ARMS, PAIRS[:1], tmp_path, num_envs=2).train(resume=True)
    narrow = ModularPolicy(SuiteSpec.from_suite(envs.ARMS), InterfaceConfig(width=2))
    with pytest.raises(ValueError, match="other sizes"):
        _ppo(narrow, envs.ARMS, PAIRS[:1], tmp_path).train(resume=True)


def test_resume_refuses_a_checkpoint_of_an_earlier_layout(tmp_path):
    policy = MonolithicPolicy(SuiteSpec.from_suite(envs.ARMS))
    _ppo(policy, envs.ARMS, PAIRS[:1], tmp_path).train()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del state["format"]  # as written before the format was recorded
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="earlier modrl"):
        _ppo(policy, envs.ARMS, PAIRS[:1], tmp_path).train(resume=True)


def test_modules_save_one_file_each_and_recombine(tmp_path):
    spec = SuiteSpec.from_suite(envs.ARMS)
    seed_everything(0)
    policy = ModularPolicy(spec)
    paths = save_modules(policy, tmp_path, "arms")
    assert sorted(p.name for p in (tmp_path / "robot").iterdir()) == sorted(f"{r}.pt" for r in spec.robots)
    assert sorted(p.name for p in (tmp_path / "task").iterdir()) == sorted(f"{t}.pt" for t in spec.tasks)
    assert len(paths) == len(spec.robots) + len(spec.tasks)
    loaded = load_policy(spec, tmp_path, tmp_path, list(spec.robots), list(spec.tasks))
    policy.eval(), loaded.eval()  # no interface dropout
    envs_ = MultiPairEnv(envs.ARMS, spec, PAIRS, 3)
    obs = envs_.reset(0)
    torch.testing.assert_close(policy(obs)[0], loaded(obs)[0])
    torch.testing.assert_close(policy.log_std(obs), loaded.log_std(obs))
    with pytest.raises(FileNotFoundError, match="Arm9"):
        load_policy(spec, tmp_path, tmp_path, ["Arm9"], ["Push"])


def test_modules_trained_on_other_envs_are_refused(tmp_path):
    """Files record their suite's versioned env ids; loading for another suite or version fails clearly."""
    spec = SuiteSpec.from_suite(envs.ARMS)
    save_modules(ModularPolicy(spec), tmp_path, "arms")
    assert read_header(tmp_path / "robot" / "Arm2.pt")["metadata"]["env_id_format"] == envs.ARMS.id_format
    load_policy(spec, tmp_path, tmp_path, ["Arm2"], ["Push"], suite="arms")  # same suite, same version: fine
    with pytest.raises(ValueError, match="suite 'arms', not 'grid'"):
        load_policy(spec, tmp_path, tmp_path, ["Arm2"], ["Push"], suite="grid")
    old = tmp_path / "old"  # a module from an earlier version of the suite (world-frame observations)
    module = ModularPolicy(spec).task_layer.bank.module(0)
    save_module(module, old / "task" / "Push.pt", suite="arms", env_id_format="modrl/{robot}-{task}-v0")
    save_module(ModularPolicy(spec).robot_layer.bank.module(0), old / "robot" / "Arm2.pt", suite="arms")
    with pytest.raises(ValueError, match="-v0"):
        load_policy(spec, old, old, ["Arm2"], ["Push"], suite="arms")


def test_action_masks_keep_padding_out_of_log_probs():
    spec = SuiteSpec.from_suite(envs.ARMS)
    policy = ModularPolicy(spec)
    obs = MultiPairEnv(envs.ARMS, spec, [("Arm2", "Push"), ("Arm4", "Push")], 2).reset(0)
    dist = policy.distribution(obs, {})
    action = dist.sample()
    assert torch.all(action[:2, 2:] == 0)  # Arm2 owns 2 of the 4 padded entries
    shifted = action.clone()
    shifted[:2, 2:] = 5.0  # changing padding must not change an Arm2 row's log-prob
    torch.testing.assert_close(dist.log_prob(action)[:2], dist.log_prob(shifted)[:2])


def test_gaussian_matches_torch_distributions_on_each_robots_own_entries():
    spec = SuiteSpec.from_suite(envs.ARMS)
    policy = ModularPolicy(spec)
    with torch.no_grad():
        policy.robot_layer.bank.stacked()["log_std"].uniform_(-1.0, 0.5)
    obs = MultiPairEnv(envs.ARMS, spec, [("Arm2", "Push"), ("Arm4", "ReachRed")], 3).reset(0)
    dist = policy.distribution(obs, {})
    action = dist.sample()
    reference = torch.distributions.Normal(dist.mean, policy.log_std(obs).exp())
    torch.testing.assert_close(dist.log_prob(action), (reference.log_prob(action) * dist.mask).sum(-1))
    torch.testing.assert_close(dist.entropy(), (reference.entropy() * dist.mask).sum(-1))


def test_compiled_update_and_acting_match_the_eager_ones():
    """`compile=True` runs the same loss: one update from the same rollout lands on the same parameters."""
    results = []
    for compile_ in (False, True):
        seed_everything(0)
        policy = ModularPolicy(SuiteSpec.from_suite(envs.ARMS), InterfaceConfig(dropout=0.0))
        ppo = _ppo(policy, envs.ARMS, PAIRS[:1], compile=compile_)
        if not compile_:
            rollout, _, _ = ppo.collect(ppo.envs.reset(0))
        torch.manual_seed(1)
        losses = ppo.learn(rollout)
        results.append((_params(policy), losses))
    (eager, eager_losses), (compiled, compiled_losses) = results
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    assert compiled_losses["value_loss"] == pytest.approx(eager_losses["value_loss"], rel=1e-4)
    # compiled acting draws its own random numbers, but scores them as the eager policy does
    policy.eval()
    obs = ppo.envs.reset(3)
    with torch.no_grad():
        action, log_prob, value = ppo._acting(obs, {})
        dist = policy.distribution(obs, {})
    torch.testing.assert_close(log_prob, dist.log_prob(action), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(value, dist.value, rtol=1e-4, atol=1e-5)
    assert torch.equal(action, action * dist.mask)  # padded action entries stay zero


def test_evaluate_reports_one_episode_per_copy(monkeypatch):
    """Each copy counts its first episode only: the records are the means over exactly `episodes` first endings."""
    spec, episodes = SuiteSpec.from_suite(envs.ARMS), 5
    first: dict[int, tuple[float, float]] = {}
    step = MultiPairEnv.step

    def spy(self, action):
        result = step(self, action)
        for row in result.ended.nonzero().flatten().tolist():
            first.setdefault(row, (float(result.success[row]), float(result.distance[row])))
        return result

    monkeypatch.setattr(MultiPairEnv, "step", spy)
    records = evaluate(ModularPolicy(spec), envs.ARMS, PAIRS, episodes=episodes, seed=0, deterministic=False)
    assert [(r["robot"], r["task"]) for r in records] == PAIRS
    assert sorted(first) == list(range(len(PAIRS) * episodes))  # every copy finished one episode
    for p, r in enumerate(records):
        rows = [first[row] for row in range(p * episodes, (p + 1) * episodes)]
        assert r["episodes"] == episodes
        assert r["success_rate"] == pytest.approx(sum(s for s, _ in rows) / episodes)
        assert r["final_distance"] == pytest.approx(sum(d for _, d in rows) / episodes)


def test_sampled_evaluation_is_seeded_and_leaves_the_global_rng_alone():
    spec = SuiteSpec.from_suite(envs.GRID)
    policy = ModularPolicy(spec)
    pairs = [("Ego", "Goal"), ("Cardinal", "Key")]
    torch.manual_seed(5)
    first = evaluate(policy, envs.GRID, pairs, episodes=4, seed=3, deterministic=False)
    after = torch.rand(1)
    torch.manual_seed(5)
    again = evaluate(policy, envs.GRID, pairs, episodes=4, seed=3, deterministic=False)
    assert first == again
    assert torch.equal(after, torch.rand(1))


def test_experiment_end_to_end_writes_results(tmp_path, script):
    main = script("train").main
    cfg = ExperimentConfig(policy=("modular", "monolithic"), seeds=(1,), eval=EvalConfig(4, sample=False), out=tmp_path,
                           progress=False, ppo=PPOConfig(**TINY, total_timesteps=9 * 4 * 16 * 2))
    records = main(cfg)
    data = json.loads((tmp_path / "zero_shot.json").read_text())
    assert data == records
    assert {r["policy"] for r in data} == {"modular", "monolithic", "random"}
    assert {r["split"] for r in data} == {"train", "holdout"}
    for r in data:
        assert {"robot", "task", "split", "policy", "seed", "success_rate", "final_distance", "episodes"} <= set(r)
        if r["policy"] == "modular":  # the interface and module sharing a modular record was trained with
            assert (r["interface_dim"], r["interface_dropout"], r["dropout_mode"]) == (2, 0.2, "replay")  # arms
            assert (r["interface_noise"], r["hyper_banks"]) == ("gaussian", [])
        if r["policy"] == "random":  # an untrained modular network, at the arms default width
            assert r["interface_dim"] == 2
    assert (tmp_path / "zero_shot.png").stat().st_size > 1000
    modules = tmp_path / "modular" / "seed1" / "modules"
    assert (modules / "robot" / "Arm4.pt").exists()
    zero_shot = script("zero_shot")
    again = zero_shot.main(zero_shot.ZeroShotArgs(pairs=("Arm2:ReachRed",), modules=modules, episodes=4, seed=10_001,
                                                  sample=False))
    [before] = [r for r in records if r["policy"] == "modular" and (r["robot"], r["task"]) == ("Arm2", "ReachRed")]
    assert again[0]["success_rate"] == before["success_rate"]
    assert again[0]["final_distance"] == pytest.approx(before["final_distance"])


def test_parallel_workers_give_the_records_of_one_worker(tmp_path):
    cfg = ExperimentConfig(policy=("modular", "monolithic"), seeds=(1, 2), eval=EvalConfig(3), progress=False,
                           ppo=PPOConfig(**TINY, total_timesteps=9 * 4 * 16))
    serial = run(replace(cfg, out=tmp_path / "serial"))
    parallel = run(replace(cfg, out=tmp_path / "parallel", workers=2))
    assert parallel == serial
    assert list(dict.fromkeys((r["policy"], r["seed"]) for r in serial)) == [
        ("modular", 1), ("monolithic", 1), ("random", 1), ("modular", 2), ("monolithic", 2), ("random", 2)]


def test_pairs_restrict_training_and_evaluation_to_chosen_pairs():
    cfg = ExperimentConfig(pairs=("Arm2:Push", "Arm3:ReachRed", "Arm2:ReachRed", "Arm3:Push"),
                           holdout=("Arm3:Push",), seeds=(1,), eval=EvalConfig(2, random_baseline=False),
                           progress=False, out=None, ppo=PPOConfig(**TINY, total_timesteps=4 * 16 * 3))
    assert cfg.splits() == {"train": [("Arm2", "Push"), ("Arm3", "ReachRed"), ("Arm2", "ReachRed")],
                            "holdout": [("Arm3", "Push")]}
    records = run(cfg)
    assert [(r["robot"], r["task"], r["split"]) for r in records] == [
        ("Arm2", "Push", "train"), ("Arm3", "ReachRed", "train"), ("Arm2", "ReachRed", "train"), ("Arm3", "Push", "holdout")]


BAD_SPLITS = [
    (dict(pairs=("Arm2:Push",), holdout=("Arm2:Push",)), "nothing to train"),
    (dict(pairs=("Arm2:Juggle",)), "valid tasks"),
    (dict(pairs=("Arm2:Push", "Arm3:Push"), holdout=("Arm4:Push",)), "not among --pairs"),
    (dict(pairs=("Arm2:Push", "Arm3:ReachRed"), holdout=("Arm3:ReachRed",)), r"\['Arm3', 'ReachRed'\] with no training pair"),
    (dict(pairs=("Arm2:Push", "Arm2:Push")), "more than once"),
    (dict(holdout=("Arm2:ReachRed", "Arm2:ReachRed")), "repeated"),
]


@pytest.mark.parametrize("settings,message", BAD_SPLITS, ids=[m for _, m in BAD_SPLITS])
def test_bad_splits_are_refused_with_the_reason(settings, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(**settings)


def test_resume_under_other_settings_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"suite": "arms", "interface_dim": 16, "hyper_banks": []}))
    with pytest.raises(ValueError, match="--interface.width 16 --interface.dropout 0.0"):  # a flat-layout run
        run(ExperimentConfig(out=tmp_path, resume=True))
    then = InterfaceConfig(width=16, dropout=0.0, mode="consistency", noise="bernoulli")
    check_resumable(ExperimentConfig(out=tmp_path, resume=True, interface=then))
    with pytest.raises(ValueError, match="--interface.noise bernoulli"):
        check_resumable(ExperimentConfig(out=tmp_path, resume=True, interface=replace(then, noise="gaussian")))


def test_a_run_folder_is_continued_only_with_resume_and_replaced_only_with_overwrite(tmp_path):
    cfg = ExperimentConfig(pairs=("Arm2:ReachRed",), seeds=(1,), eval=EvalConfig(2, random_baseline=False),
                           progress=False, out=tmp_path / "run", ppo=PPOConfig(**TINY, total_timesteps=4 * 16))
    with pytest.raises(FileNotFoundError, match="holds no run"):
        run(replace(cfg, resume=True))
    run(cfg)
    before = {p: p.read_bytes() for p in cfg.out.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="--resume to continue it, --overwrite to replace it"):
        run(cfg)
    for other, message in ((dict(pairs=("Arm3:ReachRed",)), "--pairs Arm2:ReachRed"),
                           (dict(ppo=replace(cfg.ppo, learning_rate=0.1)), "--ppo.learning-rate 0.001"),
                           (dict(ppo=replace(cfg.ppo, total_timesteps=16)), "--ppo.total-timesteps 64"),
                           (dict(eval=EvalConfig(2, sample=False, random_baseline=False)), "--eval.sample")):
        with pytest.raises(ValueError, match=message):
            run(replace(cfg, resume=True, **other))
    assert {p: p.read_bytes() for p in cfg.out.rglob("*") if p.is_file()} == before  # nothing was touched
    run(replace(cfg, resume=True, ppo=replace(cfg.ppo, total_timesteps=2 * 4 * 16)))  # a run may be extended
    run(replace(cfg, overwrite=True))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds no modrl run"):
        run(replace(cfg, out=tmp_path / "mine", overwrite=True))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


BAD_CONFIGURATIONS = [
    (lambda: ExperimentConfig(policy=("transformer",)), "valid"),
    (lambda: ExperimentConfig(workers=0), "workers"),
    (lambda: ExperimentConfig(suite="mujoco"), "valid suites"),
    (lambda: run(ExperimentConfig(holdout=("Arm2-ReachRed",), out=None)), "Robot:Task"),
    (lambda: MultiPairEnv(envs.ARMS, SuiteSpec.from_suite(envs.ARMS), [("Arm9", "Push")], 2), "valid robots"),
    (lambda: PPOConfig(num_envs=0), "positive"),
    (lambda: ExperimentConfig(interface=InterfaceConfig(width=0)), "interface width"),
    (lambda: InterfaceConfig(width=2.5), "whole number"),
    (lambda: ExperimentConfig(interface=InterfaceConfig(noise="uniform")), "interface noise"),
    (lambda: ExperimentConfig(interface=InterfaceConfig(dropout=1.0)), "interface dropout"),
    (lambda: ExperimentConfig(eval=EvalConfig(episodes=0)), "eval.episodes"),
    (lambda: ExperimentConfig(monolithic_hidden=(128, 0)), "monolithic-hidden"),
]


@pytest.mark.parametrize("make,message", BAD_CONFIGURATIONS, ids=[m for _, m in BAD_CONFIGURATIONS])
def test_bad_configuration_is_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_interface_defaults_are_each_suites_preset():
    interface = lambda cfg: (cfg.interface.width, cfg.interface.dropout, cfg.interface.mode, cfg.interface.noise)  # noqa: E731
    assert interface(ExperimentConfig()) == (2, 0.2, "replay", "gaussian")  # each suite's measured best
    assert interface(ExperimentConfig(suite="grid")) == (16, 0.2, "update", "bernoulli")
    assert interface(ExperimentConfig(interface=InterfaceConfig(width=8, dropout=0.0))) == (8, 0.0, "replay", "gaussian")
    assert isinstance(POLICIES.get("monolithic").build(SuiteSpec.from_suite(envs.GRID), ExperimentConfig()),
                      MonolithicPolicy)


@pytest.mark.slow
def test_reach_is_learned():
    """A single pair trained for 250k steps reaches its target in most episodes (untrained: about 0.05)."""
    spec = SuiteSpec.from_suite(envs.ARMS)
    seed_everything(1)
    policy = ModularPolicy(spec)
    defaults = PPOConfig()
    _ppo(policy, envs.ARMS, [("Arm2", "ReachRed")], num_envs=16, num_steps=64, checkpoint_every=50,
         num_minibatches=defaults.num_minibatches, update_epochs=defaults.update_epochs,
         total_timesteps=250_000).train()
    [record] = evaluate(policy, envs.ARMS, [("Arm2", "ReachRed")], episodes=100, seed=7, deterministic=False)
    assert record["success_rate"] >= 0.75, record


def test_evaluation_during_training_is_logged_and_leaves_training_unchanged(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def train(out, every):
        cfg = ExperimentConfig(pairs=("Arm2:ReachRed", "Arm3:ReachRed", "Arm2:Push", "Arm3:Push"), holdout=("Arm3:Push",),
                               out=out, progress=False, eval=EvalConfig(2, random_baseline=False, every=every,
                                                                        every_episodes=2),
                               ppo=PPOConfig(**TINY, total_timesteps=3 * 4 * 16 * 2))
        run(cfg)
        return out / "modular" / "seed1"

    with_eval, without = train(tmp_path / "a", every=1), train(tmp_path / "b", every=0)
    for role, name in (("robot", "Arm3"), ("task", "Push")):  # the same modules either way
        assert (with_eval / "modules" / role / f"{name}.pt").read_bytes() == \
            (without / "modules" / role / f"{name}.pt").read_bytes()
    tags = EventAccumulator(str(with_eval / "tb")).Reload().Tags()["scalars"]
    assert "eval_holdout/success/Arm3-Push" in tags and "eval/distance/Arm2-ReachRed" in tags
    assert {"charts/learning_rate", "losses/explained_variance", "charts/SPS"} <= set(tags)  # and episodic_return
    # once episodes end, which they do not in three 16-step rollouts
    assert len(EventAccumulator(str(with_eval / "tb")).Reload().Scalars("eval/success/Arm2-Push")) == 2


def test_a_drawn_split_is_written_into_config_and_records(tmp_path):
    cfg = ExperimentConfig(holdout_fraction=0.25, split_seed=3, out=tmp_path, progress=False,
                           eval=EvalConfig(1, random_baseline=False), ppo=PPOConfig(**TINY, total_timesteps=9 * 4 * 16))
    held = envs.ARMS.random_holdout(0.25, 3)
    assert cfg.splits()["holdout"] == held
    records = run(cfg)
    written = json.loads((tmp_path / "config.json").read_text())["splits"]
    assert written["holdout"] == [f"{r}:{t}" for r, t in held]
    assert {(r["robot"], r["task"]) for r in records if r["split"] == "holdout"} == set(held)
    assert all(r["holdout_fraction"] == 0.25 and r["split_seed"] == 3 for r in records)
    with pytest.raises(ValueError, match="without --holdout and --pairs"):
        ExperimentConfig(holdout_fraction=0.25, holdout=("Arm2:Push",))


def test_capture_video_records_one_video_per_pair_marking_held_out_ones(tmp_path):
    pytest.importorskip("moviepy", reason="video capture needs the video extra (pip install 'modrl[video]')")
    cfg = ExperimentConfig(pairs=("Arm2:ReachRed", "Arm2:Push", "Arm3:ReachRed", "Arm3:Push"), holdout=("Arm3:Push",),
                           out=tmp_path, progress=False, capture_video=True, eval=EvalConfig(1, random_baseline=False),
                           ppo=PPOConfig(**TINY, total_timesteps=3 * 4 * 16))
    run(cfg)
    videos = sorted(p.name for p in (tmp_path / "videos" / "modular_seed1").glob("*.mp4"))
    assert len(videos) == 4 and [v for v in videos if "heldout" in v] == ["Arm3-Push-heldout-episode-0.mp4"]
    with pytest.raises(ValueError, match="needs an --out"):
        ExperimentConfig(capture_video=True, out=None)


def test_monolithic_width_is_a_setting_carried_by_its_records():
    """`--monolithic-hidden` sizes the baseline (to match the modular policy's parameters); a record of
    another width says so, the default width adds nothing (older records stay comparable)."""
    spec = SuiteSpec.from_suite(envs.ARMS)
    wide = POLICIES.get("monolithic").build(spec, ExperimentConfig(monolithic_hidden=(40, 30), out=None))
    assert [tuple(p.shape) for n, p in wide.net.named_parameters() if "hidden0_weight" in n] == [(2, 40, 30)]
    assert wide.describe() == {"monolithic_hidden": [40, 30]}
    assert POLICIES.get("monolithic").build(spec, ExperimentConfig(out=None)).describe() == {}


def test_a_run_from_before_the_monolithic_width_and_coupling_settings_reads_as_128_128_and_concat():
    from agents.rl.compat import upgrade_config

    assert upgrade_config({"interface": {}, "eval": {}})["monolithic_hidden"] == [128, 128]
    assert upgrade_config({"interface": {}, "eval": {}, "monolithic_hidden": [64]})["monolithic_hidden"] == [64]
    upgraded = upgrade_config({"interface": {"width": 2}, "eval": {}})["interface"]
    assert upgraded == {"coupling": "concat", "grounding": 0.0, "turn": 0.0, "gain": 1.0, "width": 2}
    assert upgrade_config({"interface": {"coupling": "affine"}, "eval": {}})["interface"]["coupling"] == "affine"
