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

    (improvement,) = saved["improvement"]  # modular vs monolithic, paired on the 18 held-out pairs
    assert improvement["variant"].startswith("modular ") and improvement["baseline"].startswith("monolithic hidden=")
    assert improvement["cells"] == 18
    assert 0.0 <= improvement["low"] <= improvement["p"] <= improvement["high"] <= 1.0
    assert "on held-out cells at fraction 0.5" in printed and "P(modular interface=2" in printed

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


def test_sweep_report_pools_sweeps_by_variant_and_refuses_what_it_cannot_pool(tmp_path, capsys):
    report = load_script("sweep_report")
    records = []
    for policy, base, extra in (("modular", 0.8, {"interface_coupling": "affine"}), ("modular", 0.6, {}),
                                ("monolithic", 0.7, {})):
        for split_seed in (0, 1):
            for i, (split, task) in enumerate([("holdout", "Push"), ("holdout", "Hold"), ("train", "Push")]):
                records.append({"policy": policy, "holdout_fraction": 0.5, "split_seed": split_seed, "seed": 1,
                                "robot": f"Arm{2 + i}", "task": task, "split": split,
                                "success_rate": base + 0.1 * split_seed, **extra})
    (tmp_path / "a.json").write_text(json.dumps({"records": records[:12]}))
    records.append(records[-1] | {"holdout_fraction": 0.75, "split": "holdout"})  # monolithic alone at 0.75
    (tmp_path / "b.json").write_text(json.dumps({"records": records[12:]}))
    out = report.run_cli(report.main, report.SweepReportArgs,
                         [str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--plot", str(tmp_path / "t.png"),
                          "--curve", str(tmp_path / "c.png"), "--reps", "50"])
    printed = capsys.readouterr().out
    by_variant = {(r["variant"], r["baseline"]): r for r in out["improvement"]}
    assert by_variant[("modular coupling=affine", "monolithic")]["p"] == 1.0  # 0.8 beats 0.7 on all 4 cells
    assert by_variant[("modular", "monolithic")]["p"] == 0.0
    assert {r["policy"] for r in out["summary"]} == {"modular coupling=affine", "modular", "monolithic"}
    assert [r["policy"] for r in out["summary"] if r["fraction"] == 0.75] == ["monolithic"]
    only = report.run_cli(report.main, report.SweepReportArgs, [str(tmp_path / "b.json"), "--fraction", "0.75"])
    assert [r["fraction"] for r in only["summary"]] == [0.75]
    assert "| modular coupling=affine | 0.85 / 0.85 | 0.85 / - |" in printed  # per task: held out / trained
    assert "| monolithic | 0.70 | 0.80 | 0.80 |" in printed  # per run: F 0.5 split 0 and 1, then F 0.75 split 1
    assert "(4 won, 0 tied, 0 lost)" in printed
    assert (tmp_path / "t.png").stat().st_size > 0 and (tmp_path / "c.png").stat().st_size > 0
    with pytest.raises(SystemExit):  # the same cells twice: two runs the records cannot tell apart
        report.run_cli(report.main, report.SweepReportArgs, [str(tmp_path / "a.json"), str(tmp_path / "a.json")])
    assert "pool sweeps of different cells only" in capsys.readouterr().err
    (tmp_path / "grid.json").write_text(json.dumps({"records": [r | {"suite": "grid"} for r in records[:3]]}))
    with pytest.raises(SystemExit):  # other suites' cells are other cells
        report.run_cli(report.main, report.SweepReportArgs, [str(tmp_path / "b.json"), str(tmp_path / "grid.json")])
    assert "the records mix suites" in capsys.readouterr().err
    (tmp_path / "z.json").write_text(json.dumps([{"robot": "Arm2", "task": "Push", "success_rate": 1.0}]))
    with pytest.raises(SystemExit):
        report.run_cli(report.main, report.SweepReportArgs, [str(tmp_path / "z.json")])
    assert "no sweep records" in capsys.readouterr().err
