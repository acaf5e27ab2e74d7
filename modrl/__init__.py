"""modrl: modular neural networks: computation (modules), routing (routers) and aggregation.

torch-only, importable on its own by any project.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("modrl")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.1.0"

from modrl.modules.adapters import LoRA, BottleneckAdapter, FiLM, InputComposition
from modrl.modules.base import Module, build_module
from modrl.modules.mlp import MLP, Linear
from modrl.modules.actor_critic import ActorCriticModule
from modrl.bank import ModuleBank
from modrl.hyperbank import HyperBank
from modrl.routing import Path, Routing
from modrl.routers.base import Router, build_router
from modrl.routers.fixed import FixedRouter
from modrl.routers.learned import GumbelRouter, SoftMoERouter, TopKRouter
from modrl.routers.policy import (
    PolicyRouter, RewardBaseline, collaboration_reward, ppo_clip_loss, reinforce_loss,
)
from modrl.routers.hierarchical import HierarchicalRouter
from modrl.aggregators import Aggregator, Attention, Merge, Sequential, WeightedSum, build_aggregator
from modrl.layers import RoutedLayer, RoutedNetwork
from modrl.io import load_into_bank, load_module, read_header, save_bank, save_module
from modrl.registry import AGGREGATORS, MODULES, ROUTERS
from modrl.stats import LayerStats, routing_stats

__all__ = [
    "AGGREGATORS", "MODULES", "ROUTERS", "ActorCriticModule", "Aggregator", "Attention", "BottleneckAdapter", "FiLM",
    "FixedRouter", "GumbelRouter", "HierarchicalRouter", "HyperBank", "InputComposition", "LayerStats", "LoRA",
    "Linear", "MLP", "Merge", "Module", "ModuleBank", "Path", "PolicyRouter", "RewardBaseline",
    "RoutedLayer", "RoutedNetwork", "Router", "Routing", "Sequential", "SoftMoERouter", "TopKRouter",
    "WeightedSum", "build_aggregator", "build_module", "build_router", "collaboration_reward",
    "load_into_bank", "load_module", "ppo_clip_loss", "read_header", "reinforce_loss", "routing_stats",
    "save_bank", "save_module",
]
