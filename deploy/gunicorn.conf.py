"""Gunicorn settings for the ``web`` process (the Procfile passes ``--bind``)."""

import os

# Heroku sets WEB_CONCURRENCY from the dyno size; two workers suit a small box.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A worker silent this long is killed and replaced. Providers give up on a
# callback after ~15 s; our answers take milliseconds, so this only catches a
# worker that is stuck, not a slow request.
timeout = 30
graceful_timeout = 25
keepalive = 5

# Proxy headers are handled by the app (TRUSTED_PROXIES), not by gunicorn, so
# one setting decides which X-Forwarded-* headers are believed.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = "127.0.0.1,::1"

accesslog = "-"
errorlog = "-"
# No query strings in the access log: callback URLs may carry tenant tokens.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms "%({x-request-id}i)s"'
