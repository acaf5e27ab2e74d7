"""Process workers end with their parent, even when the parent is killed alone (not its group)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLOW_JOB = '''
import os, time

def job(path):
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(120)
'''


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")  # a zombie has exited


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline and not condition():
        time.sleep(0.2)
    return condition()


def test_workers_exit_when_their_parent_is_killed_alone(tmp_path):
    pids = tmp_path / "pids"
    (tmp_path / "slow_job.py").write_text(SLOW_JOB)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}  # spawned workers import it
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from agents.common.parallel import JobPool
        from slow_job import job

        with JobPool("process", 2) as pool:
            pool.run(job, [({str(pids)!r},), ({str(pids)!r},)])
        """)], cwd=ROOT, env=env, start_new_session=True)
    try:
        assert _wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, 60)
        workers = [int(pid) for pid in pids.read_text().split()]
        assert all(_alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)  # the parent alone: its workers get no signal
        parent.wait()
        assert _wait_for(lambda: not any(_alive(pid) for pid in workers), 10)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
