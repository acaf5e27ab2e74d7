"""Run independent jobs (seeds × policies, population members) serially, on local processes or on Ray.

Results come back in the order of the jobs whatever the backend, and the first failing job
stops the others. Each job must be a picklable top-level function with picklable arguments,
and must not depend on which worker runs it (a job that draws random numbers takes its seed
as an argument), so every backend returns the same results.

`run_jobs` is one call; `JobPool` keeps its workers for many calls (one per generation of a
population search), so processes and Ray pay their start-up once.

Ray (optional, `pip install modrl[ray]`): `init_ray(address="auto")` joins a running cluster;
otherwise the first Ray pool starts a local one with `num_cpus=workers`. Ray stays up until the
process exits, so later pools reuse it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

BACKENDS = ("serial", "process", "ray")


def ray_available() -> bool:
    """True when Ray can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("backend 'ray' needs Ray: pip install 'modrl[ray]' (or pip install ray)") from None
    return ray


def exit_with_parent(parent: int, every: float = 1.0) -> None:
    """A worker's initializer: a daemon thread that ends the worker once `parent` is gone (killed
    alone, not with its process group), so no orphan trains on for nobody."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _apply(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`: what a Ray task runs, so any picklable callable (a builtin too) can be a job."""
    return fn(*args)


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start Ray in this process unless it is up: join the cluster at `address` ("auto": the one
    this machine belongs to), or start a local one with `num_cpus` CPUs (None: all)."""
    ray = _import_ray()
    if ray.is_initialized():
        return
    if address is not None:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


class JobPool:
    """Workers kept for several `run` calls: `with JobPool("process", 2) as pool: pool.run(fn, jobs)`."""

    def __init__(self, backend: str | None = None, workers: int = 1) -> None:
        backend = backend or ("process" if workers > 1 else "serial")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid: {list(BACKENDS)}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.backend, self.workers = backend, workers
        self._executor: ProcessPoolExecutor | None = None
        self._remote: Any = None
        if backend == "ray":
            init_ray(num_cpus=workers)

    def run(self, fn: Callable[..., Any], jobs: Sequence[tuple], progress: bool = False, desc: str = "jobs") -> list[Any]:
        """`[fn(*job) for job in jobs]` on this pool's workers, in the order of the jobs."""
        jobs = list(jobs)
        if self.backend == "serial" or not jobs:
            return [fn(*job) for job in jobs]
        if self.backend == "ray":
            return self._run_ray(fn, jobs, progress, desc)
        return self._run_processes(fn, jobs, progress, desc)

    def _run_processes(self, fn: Callable[..., Any], jobs: list[tuple], progress: bool, desc: str) -> list[Any]:
        from tqdm.auto import tqdm

        if self._executor is None:
            spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch state
            self._executor = ProcessPoolExecutor(self.workers, mp_context=spawn, initializer=exit_with_parent,
                                                 initargs=(os.getpid(),))
        results: list[Any] = [None] * len(jobs)
        futures = {self._executor.submit(fn, *job): i for i, job in enumerate(jobs)}
        try:
            for future in tqdm(as_completed(futures), total=len(jobs), desc=desc, disable=not progress):
                results[futures[future]] = future.result()
        except BaseException:
            self._executor.shutdown(cancel_futures=True)  # fail now, not after every queued job has run
            self._executor = None
            raise
        return results

    def _run_ray(self, fn: Callable[..., Any], jobs: list[tuple], progress: bool, desc: str) -> list[Any]:
        from tqdm.auto import tqdm

        ray = _import_ray()
        if self._remote is None:
            self._remote = ray.remote(num_cpus=1, max_retries=0)(_apply)
        refs = [self._remote.remote(fn, *job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(jobs)
        pending = list(refs)
        with tqdm(total=len(jobs), desc=desc, disable=not progress) as bar:
            try:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    results[index[done[0]]] = ray.get(done[0])
                    bar.update(1)
            except BaseException as error:
                for ref in pending:
                    ray.cancel(ref, force=True)
                cause = getattr(error, "cause", None)  # a RayTaskError wraps the job's own exception
                if isinstance(cause, Exception):
                    raise cause from error
                raise
        return results

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "JobPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1, backend: str | None = None,
             progress: bool = True, desc: str = "jobs") -> list[Any]:
    """`[fn(*job) for job in jobs]`, on `workers` processes when `workers > 1` (backend "process"),
    or on Ray tasks (backend "ray")."""
    with JobPool(backend, workers) as pool:
        pool.workers = max(1, min(workers, len(jobs)))
        return pool.run(fn, jobs, progress=progress, desc=desc)
