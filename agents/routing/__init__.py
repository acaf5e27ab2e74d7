"""Learned routing on gymnasium suites: routed policies whose routers read factored (robot, task)
metadata, trained by PPO, REINFORCE, end to end (soft), or hierarchically; registered in the
policy registry of `agents.rl` (its `POLICIES` imports this package on the first lookup)."""

from agents.rl.policies import POLICIES
from agents.common.routing_config import HierarchicalConfig, ReinforceConfig, RoutingConfig
from agents.routing.policy import ROUTING, RoutedDist, RoutedPolicy, build

POLICIES.register("routed-ppo", RoutingConfig)(build("routed-ppo", "flat", "ppo"))
POLICIES.register("routed-reinforce", RoutingConfig)(build("routed-reinforce", "flat", "reinforce"))
POLICIES.register("soft-modular", RoutingConfig)(build("soft-modular", "soft", "gradient"))
POLICIES.register("hierarchical", RoutingConfig)(build("hierarchical", "hierarchical"))
POLICIES.register("routed-gumbel", RoutingConfig)(build("routed-gumbel", "gumbel", "gradient"))
POLICIES.register("routed-topk", RoutingConfig)(build("routed-topk", "topk", "gradient"))

__all__ = ["HierarchicalConfig", "ROUTING", "ReinforceConfig", "RoutedDist", "RoutedPolicy", "RoutingConfig"]
