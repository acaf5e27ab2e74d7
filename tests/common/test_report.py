"""Zero-shot summaries: per-seed means, standard errors, task groups, variant labels, the script."""

from __future__ import annotations

import json

import pytest

from agents.common.report import summary, variant


def record(seed: int, task: str, split: str, success: float, distance: float = 0.1, **fields) -> dict:
    robot = fields.pop("robot", "Arm2" if split == "holdout" else "Arm3")
    return {"robot": robot, "task": task, "split": split, "policy": fields.pop("policy", "modular"), "seed": seed,
            "success_rate": success, "final_distance": distance, "episodes": 10, **fields}


def cells(text: str) -> dict[str, dict[str, str]]:
    header, _, *rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]
    return {row[0]: dict(zip(header[1:], row[1:])) for row in rows}


def test_cell_is_the_mean_over_seeds_of_each_seeds_mean_with_its_standard_error():
    records = [record(1, "ReachRed", "holdout", 1.0), record(1, "ReachBlue", "holdout", 0.0),  # seed 1: 0.5
               record(2, "ReachRed", "holdout", 0.9, 0.3), record(2, "ReachBlue", "holdout", 0.9, 0.3)]  # seed 2: 0.9
    table = cells(summary(records, {"ReachRed": "reach", "ReachBlue": "reach"}))
    assert table["modular"] == {"seeds": "2", "reach, holdout": "0.70 ± 0.20 / 0.20"}


def test_rows_are_variants_columns_are_task_and_split_trained_first():
    records = [record(1, "Push", "holdout", 0.5, interface_dim=2), record(1, "Push", "train", 1.0, interface_dim=2),
               record(1, "Push", "holdout", 0.25, interface_dim=16, interface_dropout=0.2, dropout_mode="update"),
               record(1, "Push", "train", 1.0, policy="monolithic")]
    text = summary(records)
    assert text.splitlines()[0] == "| variant | seeds | Push, train | Push, holdout |"
    table = cells(text)
    assert table["modular interface=2"]["Push, holdout"] == "0.50 / 0.10"  # one seed: no error bar
    assert table["modular interface=16 dropout=0.2 mode=update"]["Push, train"] == "-"
    assert table["monolithic"]["Push, train"] == "1.00 / 0.10"


def test_variant_names_only_what_differs_from_plain():
    assert variant(record(1, "Push", "train", 1, interface_dim=4, interface_dropout=0.0, dropout_mode=None,
                          hyper_banks=[])) == "modular interface=4"
    assert variant(record(1, "Push", "train", 1, hyper_banks=["robot", "task"])) == "modular hyper=robot,task"


def test_records_the_summary_cannot_tell_apart_are_refused():
    same = [record(1, "Push", "holdout", 0.5), record(1, "Push", "holdout", 0.9)]  # two runs, settings unrecorded
    with pytest.raises(ValueError, match="two records of 'modular', seed 1, Arm2:Push"):
        summary(same)
    assert "0.50" in summary(same[:1]) and summary([same[0], same[1] | {"interface_dim": 4}]).count("| 1 |") == 2


def test_script_reads_several_files_and_refuses_bad_groups(tmp_path, script):
    summarize = script("summarize")
    for k in (1, 2):
        (tmp_path / f"{k}.json").write_text(json.dumps([record(k, "Push", "holdout", 0.4 * k - 0.2)]))
    text = summarize.main(summarize.SummarizeArgs(files=(tmp_path / "1.json", tmp_path / "2.json")))
    assert cells(text.split("\n\n")[0])["modular"] == {"seeds": "2", "Push, holdout": "0.40 ± 0.20 / 0.10"}
    assert "| modular | 2 | 0.40 [0.20, 0.60] |" in text  # the IQM with its bootstrap interval follows
    with pytest.raises(ValueError, match="Task=column"):
        summarize.main(summarize.SummarizeArgs(files=(tmp_path / "1.json",), group=("Push",)))


def test_non_finite_numbers_are_written_as_null_with_the_reason(tmp_path):
    from agents.common.report import write_json

    path = write_json([{"robot": "Arm2", "success_rate": float("nan"), "final_distance": 0.5}], tmp_path / "r.json")
    assert json.loads(path.read_text()) == [{"robot": "Arm2", "success_rate": None, "final_distance": 0.5,
                                             "not_finite": ["success_rate"]}]


def test_variant_labels_name_routing_settings_apart_from_their_defaults():
    base = {"policy": "routed-reinforce", "routing_layout": "generic", "routing_per": "step", "routing_epsilon": 0.0,
            "routing_router_lr_scale": 1.0}
    assert variant(base) == "routed-reinforce"
    assert variant(base | {"routing_layout": "two-stage", "routing_per": "episode", "routing_router_lr_scale": 3.0}) == \
        "routed-reinforce layout=two-stage per=episode router-lr=3.0"
    assert variant({"policy": "monolithic", "monolithic_hidden": [172, 172]}) == "monolithic hidden=172,172"
