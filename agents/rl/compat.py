"""Reading what older releases wrote: run settings (`config.json`) of the flat layout."""

from __future__ import annotations

FLAT_INTERFACE = {"interface_dim": "width", "interface_dropout": "dropout", "dropout_mode": "mode",
                  "interface_noise": "noise"}
FLAT_DEFAULTS = {"width": 16, "dropout": 0.0, "mode": "consistency", "noise": "bernoulli"}


def upgrade_config(data: dict) -> dict:
    """A run's `config.json` in today's layout: flat interface fields become `interface`, and an
    interface setting the file lacks takes the value that layout meant when it lacked it."""
    if "interface" in data:
        return data
    interface = {new: data.get(old, FLAT_DEFAULTS[new]) for old, new in FLAT_INTERFACE.items()}
    rest = {k: v for k, v in data.items() if k not in FLAT_INTERFACE}
    return rest | {"interface": interface, "hyper_banks": data.get("hyper_banks", [])}
