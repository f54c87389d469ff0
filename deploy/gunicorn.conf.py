"""Gunicorn settings for the ``web`` process (the Procfile passes ``--bind``).

Why gevent: a gthread worker gives a whole thread to each connection while
its request arrives, with no read time-out, so a few clients that send half
a request and wait (8, with 2 workers x 4 threads) stopped every callback
and /healthz. A gevent worker holds such a client in a greenlet that costs
next to nothing; measured with 64 stalled clients open, real callbacks were
still answered in 3-53 ms, where gthread 2x4 (and sync) answered none. Its
database waits cooperate because psycopg 3 picks its gevent-friendly wait
function once gunicorn has patched the worker (so: no ``preload_app``, and
nothing here imports the app in the master).
"""

import logging
import os
import re
import shutil
import signal
import sys
import tempfile

from gunicorn import glogging

# Heroku sets WEB_CONCURRENCY from the dyno size; two workers suit a small box.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
# Concurrent connections per worker, stalled ones included.
worker_connections = 1000

# A worker silent this long is killed and replaced. Providers give up on a
# callback after ~15 s; our answers take milliseconds, so this only catches a
# worker that is stuck, not a slow request.
timeout = 30
# Stopping waits this long for requests in flight (a deploy, Ctrl-C).
graceful_timeout = 10
# No keep-alive: each connection carries one request, as under sync workers.
# Measured with wrk at 32 connections, keep-alive under gevent left a few
# connections waiting behind the rest (a do-nothing app: p99 390 ms at p50
# 0.4 ms; without keep-alive p99 12 ms), and providers open a connection per
# callback anyway. Every socket read is bounded instead (post_worker_init).
keepalive = 0

# Proxy headers are handled by the app (TRUSTED_PROXIES, TRUSTED_PROXY_NETWORKS),
# not by gunicorn, so one setting decides which X-Forwarded-* headers are believed.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = "127.0.0.1,::1"

accesslog = "-"
errorlog = "-"


def _log_format() -> str:
    """As the app decides it (app.config.default_log_format), without importing the
    app into the master before gevent patches the workers."""
    chosen = os.environ.get("LOG_FORMAT", "").strip()
    if chosen:
        return chosen
    return "json" if os.environ.get("DYNO") or not os.isatty(2) else "text"


if _log_format() == "json":
    # Gunicorn's own lines (start, stop, access) as one JSON object per line too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        # The app gives the root logger its own handler (app.telemetry).
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
    }
else:
    # Gunicorn's own text format, but no line can pass for another: the access
    # line's path is decoded (%0a is a newline), and would otherwise start a line
    # of its own. Written here, not imported from app.telemetry: the master must
    # not import the app (or prometheus_client's locks) before gevent patches.
    _CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

    def _escaped(match: re.Match[str]) -> str:
        char = match.group()
        short = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
        return short or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")

    class OneLineFormatter(logging.Formatter):
        """The message on one line, control characters escaped; a traceback's
        lines follow, indented (the app's ``TextFormatter`` does the same)."""

        def format(self, record: logging.LogRecord) -> str:
            saved = record.exc_info, record.exc_text, record.stack_info
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            try:
                line = _CONTROL.sub(_escaped, super().format(record))
            finally:
                record.exc_info, record.exc_text, record.stack_info = saved
            extra = record.exc_text or (
                self.formatException(record.exc_info) if record.exc_info else ""
            )
            if record.stack_info:
                extra = f"{extra}\n{self.formatStack(record.stack_info)}".strip("\n")
            lines = ["    " + _CONTROL.sub(_escaped, part) for part in extra.split("\n") if part]
            return "\n".join([line, *lines])

    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "error": {
                "()": OneLineFormatter,
                "fmt": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
                "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
            },
            "access": {"()": OneLineFormatter, "fmt": "%(message)s"},
        },
        "handlers": {
            "error": {
                "class": "logging.StreamHandler",
                "formatter": "error",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
# No query strings in the access log: callback URLs may carry tenant tokens.
# The request id is the app's answer header: the sender's, or one the app made,
# the same one its own log lines carry.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms "%({x-request-id}o)s"'


class AccessAtomsLogger(glogging.Logger):
    """Gunicorn's logger, but the access line computes only the atoms our format
    prints. Gunicorn builds every atom for every request (all request and response
    headers, the whole WSGI environ, a strftime) and then prints seven: about 3% of a
    callback's CPU in py-spy under wrk. A format set elsewhere (``--access-logformat``)
    gets gunicorn's full set, as before.
    """

    def atoms(self, resp, req, wsgi_env, request_time):  # type: ignore[no-untyped-def]
        if self.cfg.access_log_format != access_log_format:
            return super().atoms(resp, req, wsgi_env, request_time)
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        request_id = next((v for k, v in resp.headers if k.lower() == "x-request-id"), "-")
        return {
            "h": wsgi_env.get("REMOTE_ADDR", "-"),
            "m": wsgi_env.get("REQUEST_METHOD"),
            "U": wsgi_env.get("PATH_INFO"),
            "s": status,
            "b": str(sent) if sent is not None else "-",
            "M": request_time.seconds * 1000 + request_time.microseconds // 1000,
            "{x-request-id}o": request_id,
        }


logger_class = AccessAtomsLogger

# How long a client may take to send its headers, or any read of its body.
CLIENT_READ_SECONDS = 10.0


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Bound every client socket's reads; freeze what the app loaded (out of the
    collector's way); check database waits cooperate; and in the first worker only,
    say what is not set up yet."""
    import gc
    import socket

    import psycopg.waiting

    # Everything loaded so far (the app, SQLAlchemy, Flask: objects that live as
    # long as the worker) out of the collector's sight. A full collection walked
    # them all, a few times in each 10 s of wrk, and stopped every request in flight
    # for it: 56-121 ms each, measured with gc.callbacks; frozen, about 1 ms.
    gc.freeze()

    # Accepted sockets take the default time-out: a client that stalls in its
    # headers is dropped after it (gunicorn bounds header reads only with keep-alive).
    socket.setdefaulttimeout(CLIENT_READ_SECONDS)

    if psycopg.waiting.wait.__name__ == "wait_c":
        worker.log.error(
            "psycopg waits in C under gevent: one slow query stalls this whole worker "
            "(was psycopg imported before gevent patched the process?)"
        )
    if worker.age != 1:
        return
    from app import load_settings, startup_report

    for line in startup_report(load_settings()):
        worker.log.info(line)


_made_metrics_dir: list[str] = []


def on_starting(server):  # type: ignore[no-untyped-def]
    """The web workers share their counters (/metrics) through files in one folder:
    a fresh one per start, unless the platform gave one (then emptied)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))
    else:
        folder = tempfile.mkdtemp(prefix="recording-archiver-metrics-")
        _made_metrics_dir.append(folder)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Forget the dead worker's live gauges, with SIGCHLD held off meanwhile.

    Gunicorn 23 (the floor) calls this from inside its SIGCHLD handler (27 queues the
    signal for its main loop instead), so a second worker exiting (two stop together
    on every shutdown) ran this again in the middle of the first call's import of
    prometheus_client, the master's first (it must not import it before forking, see
    above). The nested call found the module half made; its ImportError killed the
    master with a traceback in the log, skipping on_exit and the SIGKILL of workers
    that outstay graceful_timeout.
    A SIGCHLD that comes while this runs waits, and is handled when it returns."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def on_exit(server):  # type: ignore[no-untyped-def]
    for folder in _made_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
