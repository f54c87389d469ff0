"""LOG_FORMAT=text: nothing a request carries can start a log line that looks like ours."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.telemetry import configure_logging, escape_controls
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN
from tests.procfile import Process, process_env, web_process

FORGED = "2026-01-01 00:00:00,000 ERROR app.worker: forged"


@pytest.fixture
def text_log() -> Iterator[logging.Logger]:
    """Configured in the test's own phase: the handler keeps the stdout it found,
    and capsys gives each phase its own."""
    yield logging.getLogger("app.test_text_logs")
    configure_logging("json")


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r", "\x1b[2K\r", "\u2028", "\x85"])
def test_a_message_with_a_line_break_stays_on_its_line(text_log, capsys, sep):
    configure_logging("text")
    text_log.warning("refused a callback to %s", f"/x{sep}{FORGED}")
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    assert "forged" in out
    assert not any(line.startswith("2026-01-01") for line in out.splitlines())


def test_a_traceback_is_kept_and_each_of_its_lines_is_indented(text_log, capsys):
    configure_logging("text")
    try:
        raise ValueError(f"bad path /x\n{FORGED}")
    except ValueError:
        text_log.exception("failed")
    lines = capsys.readouterr().out.splitlines()
    assert "failed" in lines[0]
    assert len(lines) > 3
    assert all(line.startswith("    ") for line in lines[1:]), lines
    assert any("Traceback" in line for line in lines[1:])


def test_escaping_names_each_control_character():
    assert escape_controls("a\nb\rc\td\x00e\x1bf\x7fg\u2028h") == (
        "a\\nb\\rc\\td\\x00e\\x1bf\\x7fg\\u2028h"
    )
    assert escape_controls("émoji 🎙 and \\n as typed") == "émoji 🎙 and \\n as typed"


@pytest.fixture
def text_web(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[tuple[int, Process]]:
    env = process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "text-log-test-secret",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "WEB_CONCURRENCY": "1",
            "LOG_FORMAT": "text",
        }
    )
    with web_process(env, tmp_path / "web.log") as served:
        yield served.port, served.process


def raw_get(port: int, target: str) -> bytes:
    """A request line exactly as written (an HTTP library would re-encode it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_gunicorns_access_line_for_a_path_with_encoded_line_breaks_stays_one_line(text_web):
    port, process = text_web
    forged = FORGED.replace(" ", "%20")
    for target in (f"/healthz%0a{forged}", f"/nosuch%0d%0a{forged}", f"/x%1b[2K%0d{forged}"):
        assert raw_get(port, target).startswith(b"HTTP/1.")
    deadline = time.monotonic() + 10
    while process.log().count("forged") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # the access line is written after the answer: poll for it
    log = process.log()
    assert log.count("forged") == 3, log
    assert not re.search(r"^2026-01-01", log, re.M), log
    assert "\\n2026-01-01" in log  # escaped where it was, on the access line


def test_gunicorns_access_line_has_the_method_path_status_size_time_and_request_id(text_web):
    """The access line is built from the atoms its format prints, and no others
    (deploy/gunicorn.conf.py): each of them still arrives, quoted as gunicorn quotes."""
    port, process = text_web
    answer = raw_get(port, '/healthz?token=secret"value')
    request_id = re.search(rb"(?im)^x-request-id: (\w+)", answer)
    assert request_id is not None, answer
    line_pattern = re.compile(
        rf'^127\.0\.0\.1 "GET /healthz" 200 \d+ \d+ms "{request_id[1].decode()}"$', re.M
    )
    deadline = time.monotonic() + 10
    while not line_pattern.search(process.log()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the access line is written after the answer: poll for it
    log = process.log()
    assert line_pattern.search(log), log
    assert "secret" not in log  # no query strings
