"""``scripts/serve`` says what is true: "listening" once the web answers, a taken port
once with the way out, and it stops cleanly on Ctrl-C, SIGTERM and SIGHUP."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest

from tests.helpers import ROOT
from tests.test_readme import (
    answers,
    clean_env,
    copy_of_the_repository,
    end_sessions,
    free_port,
    session_members,
    start,
    wait_for,
)


def test_a_taken_port_is_said_once_with_how_to_pick_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(ROOT / "scripts" / "serve")],
            env=clean_env(PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count(f"port {port} on 127.0.0.1 is taken") == 1, output
    assert f"PORT={port + 1} scripts/serve" in output
    assert "listening" not in output
    assert "Connection in use" not in output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_it_says_listening_once_the_web_answers_and_stops_cleanly_on(signum, tmp_path):
    repo = copy_of_the_repository(tmp_path / "repo")
    port = free_port()
    log = tmp_path / "serve.log"
    serve = start("exec scripts/serve", repo, log, clean_env(PORT=str(port)))
    try:
        wait_for(lambda: "serve: listening" in log.read_text(), 120, "the listening line")
        # Said only once /healthz answers, so it answers the moment it is said.
        assert answers(f"http://127.0.0.1:{port}/healthz"), log.read_text()
        assert log.read_text().count("serve: listening") == 1
        began = time.monotonic()
        serve.send_signal(signum)
        wait_for(lambda: not session_members(serve.pid), 10, f"everything to stop on {signum}")
        took = time.monotonic() - began
    finally:
        _, killed = end_sessions([serve], grace=5)
    assert not killed, f"left running after {signal.Signals(signum).name}: {killed}"
    assert serve.returncode == 0, log.read_text()
    assert took < 5
    assert not answers(f"http://127.0.0.1:{port}/healthz")
