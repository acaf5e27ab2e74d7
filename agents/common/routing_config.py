"""Settings of the routed policies (agents/routing): one dataclass for what every routed family
shares, one per family for what only it reads. They live here, below agents/rl, so that the
experiment's config can nest them on the command line as `--routing.*`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ReinforceConfig:
    """Router training by REINFORCE (Rosenbaum et al., 2018): reward = the step's advantage."""

    coef: float = 0.1
    """weight of the REINFORCE loss (it is applied in every PPO minibatch of every epoch)"""
    baseline_momentum: float = 0.9
    """momentum of the running mean reward per (robot, task) pair subtracted from the reward"""

    def __post_init__(self) -> None:
        if self.coef < 0:
            raise ValueError(f"--routing.reinforce.coef must be >= 0, got {self.coef}")
        if not 0.0 <= self.baseline_momentum < 1.0:
            raise ValueError(f"--routing.reinforce.baseline-momentum must be in [0, 1), got {self.baseline_momentum}")


@dataclass
class HierarchicalConfig:
    """Hierarchical routing: an upper router picks a group of modules, a lower one a module in it."""

    groups: int = 2
    """groups per layer (must divide --routing.modules; checked when a hierarchical policy is built)"""
    trainer: Literal["ppo", "reinforce"] = "ppo"
    """how both levels learn: choices in PPO's ratio, or REINFORCE on the advantage"""

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ValueError(f"--routing.hierarchical.groups must be >= 1, got {self.groups}")


@dataclass
class RoutingConfig:
    """What every routed policy shares: the routed trunk, its routers, and the collapse remedies."""

    layout: Literal["generic", "two-stage"] = "generic"
    """generic: --routing.layers routed layers over the padded observations, then a per-robot head;
    two-stage: the modular policy's layout (a task stage reading the task observation, a robot stage
    reading the interface and the robot observation) with a learned router at each stage"""
    layers: int = 3
    """routed layers in the trunk (generic layout; two-stage has two)"""
    modules: int = 8
    """modules per routed layer"""
    hidden: int = 64
    """width of each module's actor and critic streams"""
    head_hidden: int = 64
    """hidden width of the per-robot actor-critic head"""
    embedding_dim: int = 16
    """size of the robot and the task embeddings the routers read"""
    combine: Literal["add", "concat"] = "add"
    """how a pair's robot and task embeddings make its routing context"""
    per: Literal["pair", "episode", "step"] = "step"
    """pair: routing from the two embeddings only (sampled each step while training, one path per pair
    in evaluation); episode: from the embeddings, one path per env copy sampled when its episode
    starts and held to its end; step: also from each layer's input (state-conditioned)"""
    top_k: int = 2
    """routed-topk: modules per row (weighted by a softmax over their scores)"""
    epsilon: float = 0.0
    """epsilon-greedy: share of routing choices drawn uniformly while acting"""
    router_lr_scale: float = 1.0
    """routers' and embeddings' learning rate relative to PPO's (a reparameterisation; see docs)"""
    entropy_coef: float = 0.0
    """bonus on the routing distributions' entropy"""
    balance_coef: float = 0.0
    """load-balancing loss (modules x sum of chosen share x mean probability, per layer)"""
    collaboration: float = 0.0
    """collaboration reward: weight x share of the minibatch that made the same choice"""
    reinforce: ReinforceConfig = field(default_factory=ReinforceConfig)
    hierarchical: HierarchicalConfig = field(default_factory=HierarchicalConfig)

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "head_hidden", "embedding_dim", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"--routing.{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.modules < 2:
            raise ValueError(f"--routing.modules must be >= 2 (one module leaves nothing to route), got {self.modules}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"--routing.epsilon must be in [0, 1], got {self.epsilon}")
        if not self.router_lr_scale > 0:
            raise ValueError(f"--routing.router-lr-scale must be positive, got {self.router_lr_scale}")
        for name in ("entropy_coef", "balance_coef", "collaboration"):
            if getattr(self, name) < 0:
                raise ValueError(f"--routing.{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
