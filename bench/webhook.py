"""The webhook under load, measured from outside with wrk, beside two references.

``python -m bench webhook [--seconds 10] [--connections 1,8,32,128]``

Runs ``release`` and the Procfile's ``web`` (its default settings) on
PostgreSQL, and drives it with ``wrk`` from another process with distinct,
correctly signed ``completed`` callbacks (a Lua script of pre-signed bodies;
the tables are emptied between runs so none is a repeat). Then the same for
two references in the same run:

- ``one INSERT``: a bare Flask app under gunicorn with 2 sync workers that
  commits one INSERT of the form per request through a connection pool
  (``bench/reference_webhook.py``): the least a durable webhook can do;
- ``do nothing``: a bare Flask app answering 204 under our own gunicorn
  settings: what the server alone costs.

Our ``web`` runs twice: as configured by default, and with ``FORWARD_URL``
pointing at a closed port (each callback also writes its forward to the
outbox; nothing is sent on the request path, so the dead receiver must not
show). Prints req/s, p50, p99 and errors per connection count, our
throughput as a fraction of each other row, and the CPU each request cost the
server (its whole process group) and PostgreSQL (the postmaster and its
children), read from ``/proc`` around each wrk run: on two cores shared by
wrk, the server and the database, throughput follows CPU per request, and
this figure does not move with other load on the machine as req/s does.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import text

from bench.common import ROOT, ensure_debian
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
)
from tests.procfile import (
    Process,
    free_port,
    proc_stat,
    process_env,
    procfile_commands,
    run_release,
    wait_until_serving,
)

BODIES_PER_THREAD = 25_000


def lua_script(path: Path, port: int, threads: int, signed: bool) -> None:
    """Pre-signed distinct callbacks, a separate slice for each wrk thread."""
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    lines = [
        "local bodies = {",
    ]
    signatures = ["local signatures = {"]
    for n in range(BODIES_PER_THREAD * threads):
        params = recording_params("completed", sid=recording_sid(50_000_000 + n))
        body = urlencode(params)
        lines.append(f"  {body!r},".replace("'", '"'))
        signatures.append(f'  "{sign(url, params) if signed else ""}",')
    lines.append("}")
    signatures.append("}")
    path.write_text(
        "\n".join(lines + signatures)
        + f"""
local counter = 0
local threads = 0
local per = {BODIES_PER_THREAD}
function setup(thread)
  thread:set("first", threads * per)
  threads = threads + 1
end
function init(args)
  counter = 0
end
request = function()
  counter = counter + 1
  local k = first + ((counter - 1) % per) + 1
  return wrk.format("POST", "{WEBHOOK_PATH}", {{
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = signatures[k],
  }}, bodies[k])
end
"""
    )


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    if "Latency Distribution" not in output:
        raise SystemExit(f"wrk printed no latencies:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket:
        errors += sum(int(x) for x in socket.groups())
    return {
        "rps": rate,
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "errors": errors,
    }


def _cpu_seconds(pids: set[int] | None = None, group: int | None = None) -> float:
    """User and system CPU so far of the processes in ``pids``, their children, and
    those in process group ``group`` (the live ones: /proc/<pid>/stat)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        fields = proc_stat(entry) if entry.isdigit() else None
        if fields is None:
            continue  # not a process, or gone meanwhile
        pid, ppid, pgrp = int(entry), int(fields[1]), int(fields[2])
        if (pids and (pid in pids or ppid in pids)) or pgrp == group:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _postmaster_pid(engine: Any) -> int:
    with engine.connect() as connection:
        backend = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
    fields = proc_stat(backend)
    assert fields is not None, "the backend that just answered has gone"
    return int(fields[1])


def run(database_url: str, seconds: int, levels: list[int]) -> dict[str, Any]:
    from app.db import make_engine

    wrk = ensure_debian("wrk", "wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    env = process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "LOG_FORMAT": "text",
        }
    )
    env.pop("WEB_CONCURRENCY", None)  # the project's own default
    release = run_release(env)
    if release.returncode:
        raise SystemExit(release.stderr)
    engine = make_engine(database_url)
    postmaster = {_postmaster_pid(engine)}
    web = procfile_commands()["web"]
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"  # a port nothing listens on
    targets: dict[str, tuple[Any, ...]] = {
        "web (this project)": (web, True, "/healthz"),
        "web, FORWARD_URL to a closed port": (web, True, "/healthz", {"FORWARD_URL": closed}),
        "one INSERT (2 sync workers)": (
            "gunicorn --bind 0.0.0.0:$PORT --workers 2 --worker-class sync --access-logfile - "
            "bench.reference_webhook:app",
            False,
            None,
        ),
        "do nothing (our settings)": (
            web.replace("'app:create_app()'", "bench.noop_webhook:app"),
            False,
            None,
        ),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, (command, signed, health, *extra) in targets.items():
        results[name] = {}
        port = free_port()
        target_env = {**env, **(extra[0] if extra else {}), "PORT": str(port)}
        process = Process.from_command(name, command, target_env, workdir / f"{port}.log")
        try:
            wait_until_serving(f"http://127.0.0.1:{port}", process, path=health)
            for level in levels:
                threads = min(2, level)
                script = workdir / f"{port}-{threads}.lua"
                if not script.exists():
                    lua_script(script, port, threads, signed)
                with engine.begin() as connection:
                    connection.execute(
                        text(
                            "TRUNCATE recordings, recording_events, archive_attempts, deliveries CASCADE"
                        )
                    )
                    connection.execute(text("DROP TABLE IF EXISTS bench_reference"))
                    connection.execute(
                        text("CREATE TABLE bench_reference (id serial PRIMARY KEY, form text)")
                    )
                group = process.popen.pid  # its own session: the server and its workers
                server_before = _cpu_seconds(group=group)
                database_before = _cpu_seconds(postmaster)
                out = subprocess.run(
                    [
                        wrk,
                        f"-t{threads}",
                        f"-c{level}",
                        f"-d{seconds}s",
                        "--latency",
                        "-s",
                        str(script),
                        f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=seconds + 60,
                    check=True,
                ).stdout
                measured = parse_wrk(out)
                answered = max(measured["rps"] * seconds, 1.0)
                measured["server_cpu_ms"] = (
                    (_cpu_seconds(group=group) - server_before) * 1000 / answered
                )
                measured["database_cpu_ms"] = (
                    (_cpu_seconds(postmaster) - database_before) * 1000 / answered
                )
                results[name][str(level)] = measured
                print(f"  {name}, {level} connections: {results[name][str(level)]}", flush=True)
        finally:
            process.stop()
    engine.dispose()
    return {"seconds": seconds, "levels": levels, "results": results}


def table(result: dict[str, Any]) -> str:
    names = list(result["results"])
    ours = names[0]
    rows = [
        f"wrk, {result['seconds']} s per run, distinct signed `completed` callbacks, PostgreSQL.\n",
        "| connections | target | req/s | p50 ms | p99 ms | errors | ours / target "
        "| server CPU ms per request | PostgreSQL CPU ms per request |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for level in result["levels"]:
        mine = result["results"][ours][str(level)]
        for name in names:
            row = result["results"][name][str(level)]
            ratio = "" if name == ours else f"{mine['rps'] / row['rps']:.2f}"
            cpu = " | ".join(
                f"{row[key]:.2f}" if key in row else ""  # (results from before it was measured)
                for key in ("server_cpu_ms", "database_cpu_ms")
            )
            rows.append(
                f"| {level} | {name} | {row['rps']:,.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
                f"| {row['errors']:.0f} | {ratio} | {cpu} |"
            )
    return "\n".join(rows)


__all__ = ["ROOT", "run", "table"]
