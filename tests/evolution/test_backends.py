"""The parallel backend: serial, process and Ray give the same results for one seed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents.common.parallel import JobPool, ray_available, run_jobs
from agents.evolution.pathnet import PathNet
from evo_fixtures import one_thread, pairs, tiny_pathnet  # noqa: F401  (fixtures)


def _history(problem, config, pool: JobPool) -> list:
    search = PathNet(problem, config, seed=7)
    search.start_task(0)
    search.run_task(pool)
    return [[(e["individual"], e["fitness"]) for e in r["evaluations"]] for r in search.history]


def test_run_jobs_keeps_the_order_and_checks_its_arguments():
    assert run_jobs(pow, [(i, 2) for i in range(5)], progress=False) == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="unknown backend"):
        run_jobs(pow, [(1, 2)], backend="threads")
    with pytest.raises(ValueError, match="workers"):
        run_jobs(pow, [(1, 2)], workers=0)
    assert run_jobs(pow, [], workers=2, progress=False) == []


@pytest.mark.parametrize("backend", [
    "process",
    pytest.param("ray", marks=pytest.mark.skipif(not ray_available(),
                                                 reason="Ray is not installed (pip install 'modrl[ray]')")),
])
def test_every_backend_computes_the_same_search(pairs, tiny_pathnet, backend):
    """Two generations of 2 tournaments (4 paths each) on 2 workers: the same fitness history as
    serial, since every path's seed comes from (seed, task, generation, index), never from a worker."""
    config = replace(tiny_pathnet, max_generations=2, threshold=1.01)
    serial = _history(pairs, config, JobPool("serial"))
    assert len(serial) == 2 and len(serial[0]) == 4
    with JobPool(backend, 2) as pool:
        assert _history(pairs, config, pool) == serial
        assert pool.run(pow, [(i, 2) for i in range(4)]) == [0, 1, 4, 9]
        with pytest.raises(ValueError, match="invalid literal"):  # a job's own error, raised here
            pool.run(int, [("1",), ("x",), ("3",)])
