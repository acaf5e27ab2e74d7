"""scripts/sweep.py at toy size: one fraction x one split x one seed of tiny PPO on arms6, then the
refusals (an existing --out, a fraction the suite cannot hold out) and --resume."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_script

TOY = ["--fractions", "0.5", "--split-seeds", "3", "--seeds", "1", "--episodes", "1", "--reps", "50", "--no-progress",
       "--ppo.total-timesteps", "288", "--ppo.num-envs", "2", "--ppo.num-steps", "8"]


def test_sweep_trains_each_cell_summarises_and_refuses_to_overwrite(tmp_path, capsys):
    sweep = load_script("sweep")
    out = tmp_path / "sweep"
    summary = sweep.run_cli(sweep.main, sweep.SweepConfig, TOY + ["--out", str(out)])
    printed = capsys.readouterr().out
    assert "parameters: modular" in printed and "monolithic" in printed
    assert set(summary["parameters"]) == {"modular", "monolithic"} and min(summary["parameters"].values()) > 0
    counts = summary["parameters"]  # unset --monolithic-hidden: the width whose count is closest to modular's
    assert abs(counts["monolithic"] - counts["modular"]) < 0.02 * counts["modular"]
    assert (out / "sweep.png").stat().st_size > 0 and (out / "f0.5_s3" / "records.json").exists()
    saved = json.loads((out / "sweep.json").read_text())
    assert len(saved["records"]) == 3 * 36  # modular, monolithic, untrained x every arms6 pair
    rows = {row["policy"]: row for row in saved["summary"]}
    assert set(rows) == {"modular", "monolithic", "random"}
    for row in rows.values():
        assert row["fraction"] == 0.5 and row["runs"] == 1 and row["holdout_pairs"] == 18
        assert 0.0 <= row["holdout_low"] <= row["holdout_iqm"] <= row["holdout_high"] <= 1.0

    with pytest.raises(SystemExit):  # an existing sweep is neither overwritten nor mixed into
        sweep.run_cli(sweep.main, sweep.SweepConfig, TOY + ["--out", str(out)])
    assert "--resume" in capsys.readouterr().err
    again = sweep.run_cli(sweep.main, sweep.SweepConfig, TOY + ["--out", str(out), "--resume"])  # loads, no training
    assert again["records"] == saved["records"]


def test_sweep_skips_fractions_a_suite_cannot_hold_out(tmp_path, capsys):
    sweep = load_script("sweep")
    cells, skipped = sweep.plan(sweep.SweepConfig(suite="arms", fractions=(0.5, 0.75), split_seeds=(0, 1),
                                                  out=tmp_path))
    assert [(c.holdout_fraction, c.split_seed) for c in cells] == [(0.5, 0), (0.5, 1)]
    assert list(skipped) == ["0.75"] and "at most 8" in skipped["0.75"]
    assert "skipping fraction 0.75 on arms" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        sweep.run_cli(sweep.main, sweep.SweepConfig, ["--suite", "arms", "--fractions", "0.75", "--out", str(tmp_path)])
    assert "no fraction" in capsys.readouterr().err
