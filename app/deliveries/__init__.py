"""The outbox: forwarded callbacks and signed notifications, sent by the worker (issue 18)."""
