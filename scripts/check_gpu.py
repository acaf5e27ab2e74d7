"""Check that modrl computes on a GPU what it computes on the CPU: a routed layer's forward and
backward, and one PPO update of the modular policy, within float tolerance.

    python scripts/check_gpu.py            # needs a GPU that torch sees; exits 1 on a mismatch
    python scripts/check_gpu.py --device cpu   # the same comparison against the CPU itself (a dry run)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

import envs
import modrl
from agents.common.cli import run_cli
from agents.common.device import resolve_device
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPO, PPOConfig, seed_everything


@dataclass
class Args:
    device: str = "cuda"
    """the device to compare against the CPU"""
    rtol: float = 1e-4
    """relative tolerance"""
    atol: float = 1e-5
    """absolute tolerance"""


def routed_layer(device: torch.device) -> dict[str, torch.Tensor]:
    """Output and gradients of a top-1 routed layer over 8 Linear(64, 64) modules."""
    torch.manual_seed(0)
    layer = modrl.RoutedLayer(modrl.ModuleBank("linear", 8, in_features=64, out_features=64),
                              modrl.FixedRouter.one_per_task(8)).to(device)
    x = torch.randn(512, 64).to(device).requires_grad_()
    ids = torch.randint(0, 8, (512,)).to(device)
    y, _ = layer(x, ids)
    y.square().sum().backward()
    return {"output": y, "input grad": x.grad, **{f"grad {n}": p.grad for n, p in layer.named_parameters()}}


def ppo_update(device: torch.device) -> dict[str, torch.Tensor]:
    """Parameters after one PPO update from the same rollout (collected on the CPU)."""
    spec = SuiteSpec.from_suite(envs.ARMS)
    pairs = [("Arm2", "ReachRed"), ("Arm3", "Push")]
    config = PPOConfig(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2, total_timesteps=128)
    seed_everything(0)
    policy = ModularPolicy(spec)
    cpu = PPO(policy, MultiPairEnv(envs.ARMS, spec, pairs, 4), config, progress=False)
    rollout, _, _ = cpu.collect(cpu.envs.reset(0))
    moved = copy.deepcopy(policy).to(device)
    ppo = PPO(moved, MultiPairEnv(envs.ARMS, spec, pairs, 4, device=device), config, progress=False)
    rollout = type(rollout)(rollout.obs.to(device), {k: v.to(device) for k, v in rollout.replay.items()},
                            *(getattr(rollout, f).to(device) for f in ("actions", "log_probs", "values", "advantages",
                                                                        "returns")))
    torch.manual_seed(1)
    ppo.learn(rollout)
    return dict(moved.named_parameters())


def main(args: Args) -> bool:
    device = resolve_device(args.device)
    ok = True
    for name, check in (("routed layer", routed_layer), ("PPO update", ppo_update)):
        on_cpu, on_device = check(torch.device("cpu")), check(device)
        worst = max(float(((on_device[k].detach().cpu() - v.detach()).abs()
                           - args.rtol * v.detach().abs()).max()) for k, v in on_cpu.items())
        same = worst <= args.atol
        ok &= same
        print(f"{name:14s} {device.type} vs cpu: {'equal' if same else 'DIFFERENT'} within tolerance "
              f"(worst excess {worst:.2e})")
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if run_cli(main, Args) else 1)
