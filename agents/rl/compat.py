"""Reading what older releases wrote: run settings (`config.json`) of the flat layout."""

from __future__ import annotations

FLAT_INTERFACE = {"interface_dim": "width", "interface_dropout": "dropout", "dropout_mode": "mode",
                  "interface_noise": "noise"}
FLAT_DEFAULTS = {"width": 16, "dropout": 0.0, "mode": "consistency", "noise": "bernoulli"}
FLAT_EVAL = {"eval_episodes": ("episodes", 100), "eval_sample": ("sample", True), "random_baseline": ("random_baseline", True)}


def upgrade_config(data: dict) -> dict:
    """A run's `config.json` in today's layout: flat interface and evaluation fields become the
    `interface` and `eval` groups, and a setting the file lacks takes the value its layout meant."""
    data = dict(data)
    if "interface" not in data:
        data["interface"] = {new: data.pop(old, FLAT_DEFAULTS[new]) for old, new in FLAT_INTERFACE.items()}
        data.setdefault("hyper_banks", [])
    if "eval" not in data:
        data["eval"] = {new: data.pop(old, default) for old, (new, default) in FLAT_EVAL.items()}
    data.setdefault("monolithic_hidden", [128, 128])  # the width before it was a setting
    if isinstance(data["interface"], dict):
        # the only coupling, no grounding and no distortion, before each was a setting
        data["interface"] = {"coupling": "concat", "grounding": 0.0, "turn": 0.0, "gain": 1.0} | data["interface"]
    return data
