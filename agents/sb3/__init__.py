"""The stable-baselines3 bridge: an SB3 policy made of one robot module and one task module."""

from agents.sb3.policy import SB3ModularPolicy

__all__ = ["SB3ModularPolicy"]
