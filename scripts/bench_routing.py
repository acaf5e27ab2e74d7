"""Cost of top-1 routing through a ModuleBank, against a dense layer and a per-sample loop.

Times forward + backward, in one run, of
  routed: a RoutedLayer (FixedRouter on random ids) over M modules of Linear(d, d),
          i.e. ModuleBank.forward_grouped on random top-1 indices;
  padded: the same layer forced onto the bank's padded batched call (what it uses for small groups),
          for the gain of contiguous sorted slices on large ones;
  dense:  one torch.nn.Linear(d, d) on the same batch (the floor: same FLOPs, no routing);
  loop:   a per-sample Python loop, each sample through its own module's weights (what the
          bank exists to avoid).
Prints the median times and two ratios: routed/dense (target <= 1.6) and loop/routed (target >= 15),
and routed/dense of the fastest repetitions too (on a machine shared with other jobs the median
carries their load; the minimum is the closest to the code's own cost).

    python scripts/bench_routing.py [--batch 1024] [--features 256] [--modules 8] [--json out.json]
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import tyro

import modrl
import modrl.bank


@dataclass
class Args:
    batch: int = 1024
    """samples per batch"""
    features: int = 256
    """input and output width of every module (Linear(features, features))"""
    modules: int = 8
    """number of modules M in the bank"""
    repeats: int = 50
    """timed repetitions (the median is reported)"""
    warmup: int = 5
    """untimed repetitions first"""
    loop_repeats: int = 3
    """timed repetitions of the slow per-sample loop"""
    seed: int = 0
    """torch seed for weights, inputs and routing"""
    threads: int = 0
    """torch threads (0: torch's default)"""
    json: Path | None = None
    """also write the figures to this JSON file"""


def step_times(steps: list[Callable[[], None]], repeats: int, warmup: int) -> list[list[float]]:
    """Every timed repetition of each step, the steps interleaved so that load from other processes hits all alike."""
    for _ in range(warmup):
        for step in steps:
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, record in zip(steps, times):
            start = time.perf_counter()
            step()
            record.append(time.perf_counter() - start)
    return times


def median_times(steps: list[Callable[[], None]], repeats: int, warmup: int) -> list[float]:
    """Median time of each step (interleaved, as `step_times`)."""
    return [statistics.median(t) for t in step_times(steps, repeats, warmup)]


def main(args: Args) -> dict:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d, m, b = args.features, args.modules, args.batch
    x = torch.randn(b, d)
    ids = torch.randint(0, m, (b,))

    layer = modrl.RoutedLayer(modrl.ModuleBank("linear", m, in_features=d, out_features=d),
                              modrl.FixedRouter.one_per_task(m))
    layer.bank.slice_from = modrl.bank.SLICED_ROWS  # large groups as contiguous slices (one thread)
    dense = torch.nn.Linear(d, d)
    weight, bias = layer.bank.stacked()["linear.weight"], layer.bank.stacked()["linear.bias"]

    grad = torch.randn(b, d)  # a dense upstream gradient, as a real loss gives (not sum()'s stride-0 ones)

    def routed_step() -> None:
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x, ids)
        out.backward(grad)

    def padded_step() -> None:
        layer.bank.slice_from = None  # one padded batched call
        try:
            routed_step()
        finally:
            layer.bank.slice_from = modrl.bank.SLICED_ROWS

    def dense_step() -> None:
        dense.zero_grad(set_to_none=True)
        dense(x).backward(grad)

    def loop_step() -> None:
        layer.zero_grad(set_to_none=True)
        outs = [F.linear(x[i], weight[ids[i]], bias[ids[i]]) for i in range(b)]
        torch.stack(outs).backward(grad)

    # the three compute the same function (dense aside): check before timing
    with torch.no_grad():
        ref = torch.stack([F.linear(x[i], weight[ids[i]], bias[ids[i]]) for i in range(b)])
        assert torch.allclose(layer(x, ids)[0], ref, atol=1e-4), "routed output differs from the per-sample loop"

    dense_times, routed_times, padded_times = step_times([dense_step, routed_step, padded_step], args.repeats,
                                                         args.warmup)
    t_dense, t_routed = statistics.median(dense_times), statistics.median(routed_times)
    t_padded = statistics.median(padded_times)
    (t_loop,) = median_times([loop_step], args.loop_repeats, 1)
    result = {
        "batch": b, "features": d, "modules": m, "threads": torch.get_num_threads(),
        "dense_ms": 1e3 * t_dense, "routed_ms": 1e3 * t_routed, "padded_ms": 1e3 * t_padded, "loop_ms": 1e3 * t_loop,
        "routed_over_dense": t_routed / t_dense, "loop_over_routed": t_loop / t_routed,
        "padded_over_dense": t_padded / t_dense,
        "routed_over_dense_fastest": min(routed_times) / min(dense_times),
        "padded_over_dense_fastest": min(padded_times) / min(dense_times),
    }
    print(f"forward+backward, batch {b}, M={m} x Linear({d}, {d}), top-1 random routing, "
          f"{result['threads']} threads, median of {args.repeats} (loop: {args.loop_repeats})")
    print(f"{'':<24}{'ms':>10}")
    for name, key in (("dense nn.Linear", "dense_ms"), ("routed (forward_grouped)", "routed_ms"),
                      ("routed, padded call", "padded_ms"), ("per-sample loop", "loop_ms")):
        print(f"{name:<24}{result[key]:>10.3f}")
    ok1 = "ok" if result["routed_over_dense"] <= 1.6 else "MISSED"
    ok2 = "ok" if result["loop_over_routed"] >= 15 else "MISSED"
    print(f"routed/dense = {result['routed_over_dense']:.2f}x (target <= 1.6x: {ok1})")
    print(f"loop/routed  = {result['loop_over_routed']:.1f}x (target >= 15x: {ok2})")
    print(f"padded/dense = {result['padded_over_dense']:.2f}x (the padded call on these groups)")
    print(f"fastest repetitions: routed/dense = {result['routed_over_dense_fastest']:.2f}x, "
          f"padded/dense = {result['padded_over_dense_fastest']:.2f}x")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
