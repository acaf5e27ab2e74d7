"""What the routers of a trained routed policy do: module usage per (robot, task) pair and layer
(`modrl.routing_stats`), how much of each layer's choice the robot alone, the task alone or the
pair explains, and a heatmap (pair × module, one panel per layer).

    python -m agents.routing.report runs/routing/routed-ppo/seed1 [--episodes 16]

reads the run's checkpoint (and the experiment's `config.json` two folders up), writes the policy's
module and router files under `<run>/routed/` (`agents.routing.files`), `routing_stats.json` and
`routing.png` in the run folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import torch

import envs
from agents.common.files import write_atomically
from agents.common.multipair import MultiPairEnv
from agents.common.report import finite_records
from agents.common.spec import SuiteSpec
from agents.rl.experiment import run_splits
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import POLICIES
from agents.common.routing_config import HierarchicalConfig, ReinforceConfig, RoutingConfig
from agents.routing.factors import factorisation
from agents.routing.files import save_routed
from agents.routing.policy import RoutedPolicy
from modrl import LayerStats, Routing, routing_stats


@torch.no_grad()
def rollout_routing(policy: RoutedPolicy, suite, pairs: list[tuple[str, str]], episodes: int = 16, steps: int = 50,
                    seed: int = 0) -> tuple[list[Routing], torch.Tensor]:
    """Each layer's routing over `steps` steps of `episodes` copies of every pair, acting as evaluation
    does (no replay: each router's likeliest module; sampled actions), and each row's pair index."""
    env = MultiPairEnv(suite, policy.spec, pairs, episodes)
    was_training = policy.training
    policy.eval()
    per_layer: list[list[Routing]] = [[] for _ in policy.trunk.layers]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        obs = env.reset(seed)
        for _ in range(steps):
            dist = policy.distribution(obs, {})
            for layer, routing in zip(per_layer, dist.routings):
                layer.append(routing)
            obs = env.step(dist.sample()).obs
    env.close()
    policy.train(was_training)
    pair_ids = torch.arange(len(pairs)).repeat_interleave(episodes).repeat(steps)
    return [_cat(routings) for routings in per_layer], pair_ids


def _cat(routings: list[Routing]) -> Routing:
    if routings[0].is_hard:
        return Routing(indices=torch.cat([r.indices for r in routings]), entropy=torch.cat([r.entropy for r in routings]))
    return Routing(weights=torch.cat([r.weights for r in routings]), entropy=torch.cat([r.entropy for r in routings]))


def heatmap(stats: list[LayerStats], labels: list[str], path: str | Path, title: str = "") -> Path:
    """Module usage, pair × module, one panel per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(stats), figsize=(2.2 + 2.0 * len(stats), 0.9 + 0.3 * len(labels)), squeeze=False)
    for i, (ax, layer) in enumerate(zip(axes[0], stats)):
        image = ax.imshow(layer.usage.numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(f"layer {i}")
        ax.set_xlabel("module")
        ax.set_xticks(range(layer.usage.shape[1]))
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels if i == 0 else [])
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="share of steps")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def routing_report(policy: RoutedPolicy, suite, pairs: list[tuple[str, str]], held_out: list[tuple[str, str]] = (),
                   episodes: int = 16, steps: int = 50, seed: int = 0) -> dict:
    """Usage per pair and layer, entropies and factorisation of a trained routed policy, as JSON-able data."""
    routings, pair_ids = rollout_routing(policy, suite, pairs, episodes, steps, seed)
    stats = routing_stats(routings, pair_ids, num_modules=policy.config.modules)
    layers = []
    for layer in stats:
        usage = layer.usage.numpy()
        layers.append({"usage": usage.tolist(), "entropy": layer.entropy, "load_entropy": layer.load_entropy,
                       "padding": layer.padding, **factorisation(usage, pairs)})
    return {"policy": policy.name, "pairs": [f"{r}:{t}" for r, t in pairs],
            "held_out": [f"{r}:{t}" for r, t in held_out], "layers": layers, "_stats": stats}


def load_run(run_dir: str | Path) -> tuple[RoutedPolicy, dict]:
    """The routed policy of a `scripts/train.py` run folder (`<out>/<policy>/seed<k>`), from its checkpoint,
    and the experiment's config.json."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir.parent.parent / "config.json").read_text())
    spec = SuiteSpec.from_suite(envs.get_suite(config["suite"]))
    routing = config.get("routing")
    settings = RoutingConfig(**routing | {"reinforce": ReinforceConfig(**routing["reinforce"]),
                                          "hierarchical": HierarchicalConfig(**routing["hierarchical"])}) \
        if routing else RoutingConfig()
    interface = InterfaceConfig(**config["interface"]) if config.get("interface") else None
    policy = POLICIES.get(run_dir.parent.name).build(spec, SimpleNamespace(routing=settings, interface=interface))
    if not isinstance(policy, RoutedPolicy):
        raise ValueError(f"{run_dir} is a {run_dir.parent.name!r} run, not a routed policy")
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    policy.load_state_dict(state["policy"])
    return policy, config


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a routed policy's run folder, <out>/<policy>/seed<k>")
    parser.add_argument("--episodes", type=int, default=16, help="env copies per pair")
    parser.add_argument("--steps", type=int, default=50, help="steps per copy")
    args = parser.parse_args(argv)
    policy, config = load_run(args.run)
    suite = envs.get_suite(config["suite"])
    splits = run_splits(config)
    pairs = splits["train"] + splits["holdout"]
    save_routed(policy, args.run / "routed", config["suite"])
    report = routing_report(policy, suite, pairs, splits["holdout"], args.episodes, args.steps)
    stats = report.pop("_stats")
    labels = [f"{r}:{t}{' *' if (r, t) in splits['holdout'] else ''}" for r, t in pairs]
    heatmap(stats, labels, args.run / "routing.png", f"{policy.name}, {args.run.name} (* held out)")
    strict = report | {"layers": finite_records(report["layers"])}  # a collapsed layer's shares are NaN: null
    write_atomically(args.run / "routing_stats.json", json.dumps(strict, indent=1, allow_nan=False))
    for i, layer in enumerate(report["layers"]):
        print(f"layer {i}: choice entropy {layer['choice_entropy']:.2f} nats, explained by robot "
              f"{layer['robot_share']:.2f}, task {layer['task_share']:.2f}, pair {layer['pair_share']:.2f}; "
              f"best robot-only / task-only predictor {layer['robot_accuracy']:.2f} / {layer['task_accuracy']:.2f}")
    print(f"wrote {args.run / 'routing_stats.json'}, {args.run / 'routing.png'}, {args.run / 'routed'}/")
    return report


if __name__ == "__main__":
    main()
