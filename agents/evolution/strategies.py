"""The registered evolution strategies: one line each."""

from agents.evolution import EVOLUTION
from agents.evolution.munet import MuNet, MuNetConfig
from agents.evolution.pathnet import PathNet, PathNetConfig

EVOLUTION.register("pathnet", PathNetConfig)(PathNet)
EVOLUTION.register("munet", MuNetConfig)(MuNet)
