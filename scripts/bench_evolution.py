"""Generations per second of a PathNet search on every parallel backend, as ratios against serial.

    python scripts/bench_evolution.py                          # serial, process and ray (if installed), 1 and 2 workers
    python scripts/bench_evolution.py --tournaments 4 --generations 10 --json runs/bench_evolution.json

One search (digits pairs) per (backend, workers), each from the same seed, so every backend computes
the same generations (checked: the fitness histories must agree). Each pool first runs one
untimed generation (process start-up, Ray start-up and imports), then `generations` timed ones.
A generation trains 2 × `tournaments` paths, which the workers share.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from agents.common.parallel import JobPool, ray_available
from agents.evolution.pathnet import PathNet, PathNetConfig
from agents.evolution.problems import DigitsPairs


@dataclass
class Args:
    tournaments: int = 2
    """binary tournaments per generation (2x paths to share between workers)"""
    steps: int = 50
    """minibatches per path (T)"""
    generations: int = 5
    """timed generations per (backend, workers)"""
    workers: tuple[int, ...] = (1, 2)
    """worker counts to measure"""
    backends: tuple[str, ...] = ("serial", "process", "ray")
    """backends to measure (ray is skipped when not installed)"""
    json: Path | None = None
    """also write the results here"""


def measure(backend: str, workers: int, args: Args) -> tuple[float, list[float]]:
    """(generations per second, fitness history) of one search."""
    config = PathNetConfig(population=max(8, 2 * args.tournaments), tournaments=args.tournaments, steps=args.steps,
                           lr=0.01)
    search = PathNet(DigitsPairs(), config, seed=0)
    search.start_task(0)
    with JobPool(backend, workers) as pool:
        search.step(pool)  # untimed: start-up
        start = time.perf_counter()
        for _ in range(args.generations):
            search.step(pool)
        seconds = time.perf_counter() - start
    fitness = [e["fitness"] for r in search.history for e in r["evaluations"]]
    return args.generations / seconds, fitness


def main(args: Args) -> dict:
    torch.set_num_threads(1)
    if not args.backends or args.backends[0] != "serial":
        raise ValueError("--backends must start with serial (the reference of the ratios)")
    rows, reference, history = [], None, None
    for backend in args.backends:
        if backend == "ray" and not ray_available():
            print("ray: not installed, skipped (pip install 'modrl[ray]')")
            continue
        for workers in (1,) if backend == "serial" else args.workers:
            rate, fitness = measure(backend, workers, args)
            if reference is None:
                reference, history = rate, fitness
            if fitness != history:
                raise RuntimeError(f"{backend} with {workers} workers computed other fitnesses than serial")
            rows.append({"backend": backend, "workers": workers, "generations_per_second": rate,
                         "ratio_vs_serial": rate / reference})
    print(f"{'backend':<8} {'workers':>7} {'gen/s':>7} {'vs serial':>9}")
    for r in rows:
        print(f"{r['backend']:<8} {r['workers']:>7} {r['generations_per_second']:>7.2f} {r['ratio_vs_serial']:>8.2f}x")
    out = {"rows": rows, "tournaments": args.tournaments, "steps": args.steps, "generations": args.generations,
           "identical_fitness": True}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(tyro.cli(Args))
