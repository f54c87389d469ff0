"""``/openapi.json``: the webhook and operations endpoints, described for users and tools."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}


def _json_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


CALLBACK_FIELDS: dict[str, Any] = {
    "AccountSid": {
        "type": "string",
        "description": "The account (Twilio AC..., SignalWire and Telnyx UUIDs).",
    },
    "RecordingSid": {"type": "string", "description": "The recording, in the provider's format."},
    "RecordingStatus": {
        "type": "string",
        "examples": ["in-progress", "completed", "absent", "failed"],
    },
    "CallSid": {"type": "string"},
    "ConferenceSid": {"type": "string"},
    "RecordingUrl": {"type": "string", "description": "Required on completed."},
    "RecordingDuration": {"type": "string", "pattern": "^[0-9]+$"},
    "RecordingChannels": {"type": "string", "examples": ["1", "2", "mono", "dual"]},
    "RecordingStartTime": {"type": "string", "description": "RFC 2822, four-digit year."},
    "RecordingSource": {"type": "string"},
    "RecordingTrack": {"type": "string"},
    "ErrorCode": {"type": "string"},
}

WEBHOOK_ANSWERS: dict[str, Any] = {
    "204": {"description": "Accepted and stored (a repeat is accepted and changes nothing)."},
    "400": _json_error(
        "Signed correctly, but a field is missing or malformed; the error names it."
    ),
    "403": _json_error(
        "Signature missing, wrong or stale; the provider not configured; or an account this "
        "deployment does not serve. Nothing is stored."
    ),
    "404": _json_error("No such provider."),
    "405": _json_error("Only POST and GET."),
    "408": _json_error("The body did not arrive in time; nothing was stored."),
    "413": _json_error("The body is larger than MAX_BODY_BYTES."),
    "503": _json_error("The database did not answer; nothing was stored, send it again."),
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Recording Archiver",
        "version": "1",
        "description": (
            "Receives recording-status callbacks from Twilio, SignalWire (Compatibility API) "
            "and Telnyx (TeXML), archives every recording into your S3 bucket, confirms the "
            "copy, then deletes the provider's original. Callbacks prove themselves with the "
            "provider's signature: X-Twilio-Signature (Twilio), X-SignalWire-Signature "
            "(SignalWire), telnyx-signature-ed25519 and telnyx-timestamp (Telnyx)."
        ),
    },
    "paths": {
        "/webhooks/{provider}/recording-status": {
            "parameters": [
                {
                    "name": "provider",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["twilio", "signalwire", "telnyx"]},
                }
            ],
            "post": {
                "summary": "A recording-status callback (form-encoded)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "properties": CALLBACK_FIELDS}
                        }
                    },
                },
                "responses": WEBHOOK_ANSWERS,
            },
            "get": {
                "summary": "A recording-status callback (in the query string)",
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in CALLBACK_FIELDS.items()
                ],
                "responses": WEBHOOK_ANSWERS,
            },
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "responses": {
                    "200": {
                        "description": "The process is up.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness",
                "responses": {
                    "200": {
                        "description": "The database answers.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "503": {
                        "description": "The database does not answer.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format",
                "security": [{}, {"metricsToken": []}],
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": _json_error("METRICS_TOKEN is set and the request did not carry it."),
                    "503": {
                        "description": "The database does not answer.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "metricsToken": {"type": "http", "scheme": "bearer"},
        }
    },
}


def document(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """This document with the parts other blueprints describe (``init_api`` adds the
    recordings API's: each blueprint describes its own paths)."""
    whole: dict[str, Any] = {
        **DOCUMENT,
        "info": dict(DOCUMENT["info"]),
        "paths": dict(DOCUMENT["paths"]),
        "components": {"securitySchemes": dict(DOCUMENT["components"]["securitySchemes"])},
    }
    for part in parts:
        whole["paths"].update(part["paths"])
        whole["components"]["securitySchemes"].update(part["securitySchemes"])
        whole["info"]["description"] += " " + part["description"]
    return whole
