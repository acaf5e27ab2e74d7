"""The task → robot interface of the modular policy: its width and the dropout that regularises it.

One dataclass holds the defaults and the validation; `InterfaceConfig.for_suite` gives the
settings that recombined best on each suite (docs/interface.md has the measurements).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

MODES = ("update", "replay", "consistency")
NOISES = ("bernoulli", "gaussian")
COUPLINGS = ("concat", "affine")


@dataclass(frozen=True)
class InterfaceConfig:
    """Every field left None takes the suite's preset (`resolve`)."""

    width: int | None = None
    """units of the interface vector, for the actor and for the critic each"""
    dropout: float | None = None
    """dropout probability on the interface while training (Devin et al.'s regulariser)"""
    mode: Literal["update", "replay", "consistency"] | None = None
    """update: drop out in the PPO update only; replay: act with dropout masks and replay them;
    consistency: exact PPO plus a penalty on what dropout changes (docs/interface.md)"""
    noise: Literal["bernoulli", "gaussian"] | None = None
    """bernoulli: zero units; gaussian: multiply each unit by 1 + σ·N(0, 1), σ² = p/(1-p)"""
    coupling: Literal["concat", "affine"] | None = None
    """how a robot module reads the message m: concat (m is an input) or affine (it acts A(obs)·m + b(obs))"""
    grounding: float | None = None
    """weight of the loss fitting each robot module's A·(end-effector move) + b to its action (docs/interface.md)"""
    turn: float | None = None
    """largest turn (degrees) of the message on its way to the robot module, drawn per episode while
    training: the task module learns to steer a partner whose moves are off by up to this angle"""
    gain: float | None = None
    """lowest speed factor on the message, drawn per episode in [gain, 1] while training (1: none)"""

    def __post_init__(self) -> None:
        if self.width is not None and (isinstance(self.width, bool) or int(self.width) != self.width or self.width < 1):
            raise ValueError(f"interface width must be a whole number >= 1, got {self.width}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"interface dropout must be in [0, 1), got {self.dropout}")
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f"unknown interface mode {self.mode!r}; valid: {list(MODES)}")
        if self.noise is not None and self.noise not in NOISES:
            raise ValueError(f"unknown interface noise {self.noise!r}; valid: {list(NOISES)}")
        if self.coupling is not None and self.coupling not in COUPLINGS:
            raise ValueError(f"unknown interface coupling {self.coupling!r}; valid: {list(COUPLINGS)}")
        if self.grounding is not None and not (0.0 <= self.grounding < float("inf")):
            raise ValueError(f"interface grounding is a loss weight >= 0, got {self.grounding}")
        if self.turn is not None and (isinstance(self.turn, bool) or not 0.0 <= self.turn < 180.0):
            raise ValueError(f"interface turn is an angle in degrees in [0, 180), got {self.turn}")
        if self.gain is not None and (isinstance(self.gain, bool) or not 0.0 < self.gain <= 1.0):
            raise ValueError(f"interface gain is the lowest speed factor, in (0, 1], got {self.gain}")

    @classmethod
    def for_suite(cls, suite: str | None) -> "InterfaceConfig":
        """The preset of `suite` (the generic one for a suite without a preset, or None)."""
        return SUITE_PRESETS.get(suite or "", GENERIC)

    def resolve(self, suite: str | None) -> "InterfaceConfig":
        """These settings, with every unset field taken from `suite`'s preset. A preset's grounding and
        partner distortion belong to its coupling and width: they are dropped when the settings given
        leave no end-effector move for the message to mean."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        resolved = replace(self.for_suite(suite), **given)
        if not resolved.groundable:
            resolved = replace(resolved, **{name: value for name, value in UNGROUNDED.items() if name not in given})
        return resolved

    @property
    def groundable(self) -> bool:
        """Whether the message can be grounded in the end effector's move (an affine map of 2 wide messages)."""
        return self.coupling == "affine" and self.width == 2

    @property
    def distorts(self) -> bool:
        """Whether the message reaches the robot module turned or slowed (`turn`, `gain`) while training."""
        return bool(self.turn) or (self.gain is not None and self.gain < 1.0)

    @property
    def active(self) -> bool:
        """Whether dropout acts at all."""
        return bool(self.dropout)

    def to_dict(self) -> dict:
        return asdict(self)


UNGROUNDED = {"grounding": 0.0, "turn": 0.0, "gain": 1.0}  # the settings that need a message meaning a move, off
GENERIC = InterfaceConfig(width=16, dropout=0.0, mode="consistency", noise="bernoulli", coupling="concat", **UNGROUNDED)
SUITE_PRESETS = {
    "arms": InterfaceConfig(width=2, dropout=0.2, mode="replay", noise="gaussian", coupling="concat", **UNGROUNDED),
    "arms6": InterfaceConfig(width=2, dropout=0.05, mode="replay", noise="gaussian", coupling="affine",
                             **UNGROUNDED | {"grounding": 0.1}),
    "grid": InterfaceConfig(width=16, dropout=0.2, mode="update", noise="bernoulli", coupling="concat", **UNGROUNDED),
    "grid6": InterfaceConfig(width=16, dropout=0.2, mode="update", noise="bernoulli", coupling="concat", **UNGROUNDED),
}


def default_width(suite: str | None) -> int:
    """The interface width used on `suite` unless told otherwise (also the SB3 policy's)."""
    return int(InterfaceConfig.for_suite(suite).width)
