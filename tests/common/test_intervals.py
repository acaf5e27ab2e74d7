"""Interval estimates over seeds: IQM with bootstrap CIs, probability of improvement, learning curves."""

from __future__ import annotations

import pytest

from agents.common.curves import plot_curves, read_histories
import numpy as np

from agents.common.intervals import interval_report, iqm, paired_improvement, probability_of_improvement, score_matrices
from agents.rl.experiment import EvalConfig, ExperimentConfig, run
from agents.rl.ppo import PPOConfig


def _records(policy: str, successes: list[list[float]], split: str = "holdout") -> list[dict]:
    return [{"robot": f"R{p}", "task": "T", "split": split, "policy": policy, "seed": s, "success_rate": v,
             "final_distance": 0.1} for s, row in enumerate(successes) for p, v in enumerate(row)]


def test_a_variant_that_always_wins_has_probability_of_improvement_one():
    records = _records("modular", [[0.9, 0.8], [0.95, 0.85], [0.9, 0.9]]) + \
        _records("monolithic", [[0.1, 0.2], [0.3, 0.2], [0.2, 0.1]])
    matrices = score_matrices(records, "holdout")
    assert matrices["modular"].shape == (3, 2)
    better = probability_of_improvement(matrices, [("modular", "monolithic"), ("monolithic", "modular")], reps=200)
    assert better[("modular", "monolithic")].value == 1.0 and better[("monolithic", "modular")].value == 0.0
    report = interval_report(records, reps=200)
    assert "P(row > column)" in report and "1.00 [1.00, 1.00]" in report


def test_iqm_of_constant_scores_is_that_constant_with_a_zero_width_interval():
    estimate = iqm(score_matrices(_records("modular", [[0.5, 0.5]] * 4), "holdout"), reps=100)["modular"]
    assert (estimate.value, estimate.low, estimate.high) == (0.5, 0.5, 0.5)


def test_paired_improvement_counts_wins_and_half_ties_with_a_bootstrap_over_cells():
    x, y = np.array([1.0, 0.9, 0.5, 0.2]), np.array([0.5, 0.9, 0.6, 0.1])  # win, tie, loss, win
    estimate = paired_improvement(x, y, reps=500)
    assert estimate.value == pytest.approx(2.5 / 4)
    assert 0.0 <= estimate.low < estimate.value < estimate.high <= 1.0
    always = paired_improvement(np.ones(5), np.zeros(5), reps=100)
    assert (always.value, always.low, always.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="equal-length"):
        paired_improvement(np.ones(3), np.ones(4))


def test_a_missing_seed_record_is_refused():
    records = _records("modular", [[0.9, 0.8], [0.95, 0.85]])[:-1]
    with pytest.raises(ValueError, match="no holdout record for seed 1"):
        score_matrices(records, "holdout")


def test_learning_curves_are_read_from_run_folders_and_plotted(tmp_path):
    run(ExperimentConfig(pairs=("Arm2:ReachRed",), seeds=(1, 2), out=tmp_path / "run", progress=False,
                         eval=EvalConfig(1, random_baseline=False),
                         ppo=PPOConfig(num_envs=8, num_steps=50, num_minibatches=2, update_epochs=1,
                                       total_timesteps=8 * 50 * 3)))
    histories = read_histories(tmp_path / "run")
    assert set(histories["modular"]) == {1, 2} and len(histories["modular"][1]) == 3
    assert plot_curves([tmp_path / "run"], tmp_path / "c.png", reps=50).stat().st_size > 1000
    with pytest.raises(FileNotFoundError, match="checkpoint.pt"):
        read_histories(tmp_path)
