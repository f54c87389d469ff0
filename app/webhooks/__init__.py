"""Provider callbacks: verify, store, answer. Never download here."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

from app.webhooks import twilio  # noqa: E402, F401  (registers its routes on bp)
