"""Run independent jobs (seeds × policies, population members) serially or on local processes.

Results come back in the order of the jobs whatever the backend, and the first failing job
stops the others. Each job must be a picklable top-level function with picklable arguments.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

BACKENDS = ("serial", "process")


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1, backend: str | None = None,
             progress: bool = True, desc: str = "jobs") -> list[Any]:
    """`[fn(*job) for job in jobs]`, on `workers` processes when `workers > 1` (backend "process")."""
    from tqdm.auto import tqdm

    backend = backend or ("process" if workers > 1 else "serial")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {list(BACKENDS)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if backend == "serial" or not jobs:
        return [fn(*job) for job in jobs]
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch state
    results: list[Any] = [None] * len(jobs)
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=spawn) as pool:
        futures = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        try:
            for future in tqdm(as_completed(futures), total=len(jobs), desc=desc, disable=not progress):
                results[futures[future]] = future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # fail now, not after every queued job has run
            raise
    return results
