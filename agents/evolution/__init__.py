"""Evolutionary path search over modrl's routed networks: PathNet and µNet.

A search evolves `Path`s (which modules each layer runs) through one `RoutedNetwork`; the
strategies are registered by name in `EVOLUTION` (config class, search class).
"""

from agents.common.registry import MethodRegistry

EVOLUTION = MethodRegistry("evolution strategy", providers=("agents.evolution.strategies",))
