"""The benchmark scripts run end to end at toy sizes and report their ratios (timings are not checked)."""

from __future__ import annotations

import json
import math
import os

import pytest

from agents.rl.ppo import PPOConfig


def test_bench_routing_reports_both_ratios(script, tmp_path):
    bench = script("bench_routing")
    out = bench.main(bench.Args(batch=64, features=16, modules=4, repeats=2, warmup=1, loop_repeats=1,
                                json=tmp_path / "r.json"))
    assert out["routed_over_dense"] > 0 and out["loop_over_routed"] > 0
    assert json.loads((tmp_path / "r.json").read_text())["modules"] == 4


def test_bench_envs_reports_ratios(script, tmp_path):
    bench = script("bench_envs")
    out = bench.main(bench.Args(num_envs=8, seconds=0.05, grid_ids=("modrl/Grid-Ego-Goal-v0",),
                                json=str(tmp_path / "e.json")))
    assert (tmp_path / "e.json").exists()
    assert all(math.isfinite(v) and v > 0 for v in _numbers(out))


def _tiny_ppo(**sizes) -> PPOConfig:
    return PPOConfig(num_minibatches=2, update_epochs=1, checkpoint_every=10**9, **sizes)


def test_bench_ppo_trains_both_and_reports_the_ratio(script, tmp_path):
    bench = script("bench_ppo")
    out = bench.main(bench.Args(timesteps=2 * 4 * 32, eval_episodes=2, modrl=("eager",), json=tmp_path / "p.json",
                                ppo=_tiny_ppo(num_envs=4, num_steps=32)))
    assert (tmp_path / "p.json").exists()
    assert math.isfinite(out["ratio_modrl_over_sb3"]) and out["ratio_modrl_over_sb3"] > 0
    assert out["modrl"]["sps"] > 0 and out["sb3"]["sps"] > 0  # returns may be nan: no episode ends this early
    for lib in ("modrl", "sb3"):  # rollouts and updates are timed apart, and fit in the whole
        r = out[lib]
        assert 0 < r["rollout_seconds"] and 0 < r["update_seconds"] and r["ms_per_minibatch_step"] > 0
        assert r["rollout_seconds"] + r["update_seconds"] <= r["seconds"]
        assert 0 < r["first_update_seconds"] < r["update_seconds"]  # two updates at this size
        assert 0 < r["first_rollout_seconds"] < r["rollout_seconds"]


def test_bench_ppo_compiled_runs_cold_then_warm_in_fresh_processes(script, tmp_path, monkeypatch):
    bench = script("bench_ppo")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    out = bench.main(bench.Args(timesteps=2 * 2 * 16, eval_episodes=2, modrl=("compile", "compile-warm"),
                                ppo=_tiny_ppo(num_envs=2, num_steps=16)))
    cold, warm = out["modrl_compile"], out["modrl_compile_warm"]
    assert cold["sps"] > 0 and warm["sps"] > 0
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")  # the user's setting is put back
    with pytest.raises(ValueError, match="give both"):
        bench.main(bench.Args(timesteps=2048, modrl=("compile-warm",)))


def _numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _numbers(v)]
    if isinstance(tree, (list, tuple)):
        return [x for v in tree for x in _numbers(v)]
    return [float(tree)] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []


def test_bench_grounding_trains_both_and_reports_the_ratio(script):
    bench = script("bench_grounding")
    out = bench.main(bench.Args(updates=2, ppo=_tiny_ppo(num_envs=2, num_steps=16)))
    assert out["pairs"] == 18 and set(out["sps"]) == {"0.0", "0.1"}
    assert math.isfinite(out["ratio"]) and out["ratio"] > 0
