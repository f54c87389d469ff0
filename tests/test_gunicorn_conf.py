"""deploy/gunicorn.conf.py's hooks, run in a process of their own as gunicorn's master runs them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"

# Gunicorn 23 (our floor) reaps workers and calls ``child_exit`` inside its SIGCHLD
# handler, so a second worker's SIGCHLD can land while the first call is still
# importing prometheus_client. The finder below sends that SIGCHLD at the worst moment
# (prometheus_client.metrics half made, ``Gauge`` not yet defined), where the unguarded
# hook died with "cannot import name 'Gauge' from partially initialized module".
# Nothing of ours is replaced: the signal is real, and so is the import.
MASTER = r"""
import importlib.abc, importlib.util, os, signal, sys

spec = importlib.util.spec_from_file_location("gunicorn_conf", sys.argv[1])
conf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conf)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[2]
events = []


class Worker:
    def __init__(self, pid):
        self.pid = pid


def reap(signum, frame):  # what gunicorn 23's handle_chld does with each dead worker
    events.append("second child_exit")
    conf.child_exit(None, Worker(2))
    events.append("second child_exit returned")


class SigchldWhileMetricsIsHalfMade(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        metrics = sys.modules.get("prometheus_client.metrics")
        if "SIGCHLD" not in events and metrics is not None and not hasattr(metrics, "Gauge"):
            events.append("SIGCHLD")
            os.kill(os.getpid(), signal.SIGCHLD)
        return None


signal.signal(signal.SIGCHLD, reap)
sys.meta_path.insert(0, SigchldWhileMetricsIsHalfMade())
conf.child_exit(None, Worker(1))
events.append("first child_exit returned")
print(events)
"""


def test_a_worker_exiting_while_child_exit_imports_prometheus_waits_for_it(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MASTER, str(CONF), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    events = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    # The signal did arrive mid-import, and its handler ran only once the first call
    # had finished its import: the nested call found the module whole.
    assert events[0] == "SIGCHLD"
    assert events.index("second child_exit returned") > events.index("second child_exit")
    assert "Traceback" not in done.stderr
