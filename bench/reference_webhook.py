"""The least a durable webhook can do: commit one INSERT of the form per request.

Served by gunicorn with the same settings as ``web``, through a connection
pool, so ``bench/webhook.py`` can put our webhook's figures beside it.
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response, request
from sqlalchemy import text

from app.config import normalise_database_url
from app.db import make_engine

engine = make_engine(normalise_database_url(os.environ["DATABASE_URL"]))
with engine.begin() as connection:
    connection.execute(
        text("CREATE TABLE IF NOT EXISTS bench_reference (id serial PRIMARY KEY, form text)")
    )

app = Flask(__name__)


@app.post("/webhooks/twilio/recording-status")
def store() -> Response:
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO bench_reference (form) VALUES (:form)"),
            {"form": json.dumps(request.form.to_dict())},
        )
    return Response(status=204)
