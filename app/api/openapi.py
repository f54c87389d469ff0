"""The recordings API and share links, as ``/openapi.json`` describes them (the
operations blueprint serves the document; ``init_api`` hands it this part)."""

from __future__ import annotations

from typing import Any

from app.api.params import CURSOR_SHAPE, PHONE_LONGEST, PHONE_SHAPE, SID_SHAPE

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
STATES = ["waiting", "queued", "archiving", "archived", "failed", "nothing to archive"]

RECORDING = {
    "type": "object",
    "properties": {
        "sid": {"type": "string"},
        "provider": {"type": "string", "enum": ["twilio", "signalwire", "telnyx"]},
        "account_sid": {"type": "string"},
        "call_sid": NULLABLE_STRING,
        "conference_sid": NULLABLE_STRING,
        "from": {**NULLABLE_STRING, "description": "E.164 where it parses, else as sent."},
        "to": NULLABLE_STRING,
        "direction": NULLABLE_STRING,
        "started_at": NULLABLE_TIME,
        "duration": NULLABLE_INTEGER,
        "channels": NULLABLE_INTEGER,
        "state": {"type": "string", "enum": STATES},
        "bucket": NULLABLE_STRING,
        "key": NULLABLE_STRING,
        "size": NULLABLE_INTEGER,
        "sha256": NULLABLE_STRING,
        "archived_at": NULLABLE_TIME,
        "original_deleted_at": NULLABLE_TIME,
        "legal_hold": {"type": "boolean"},
        "retain_until": NULLABLE_TIME,
        "integrity": {"type": "string", "enum": ["ok", "missing", "mismatch", "unchecked"]},
        "encrypted": {"type": "boolean"},
    },
    "required": ["sid", "provider", "account_sid", "state", "legal_hold", "encrypted"],
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


COMMON = {
    "401": _error("No token, or one that is unknown or revoked."),
    "503": _error("The database or the archive store did not answer; try again."),
}
ONE = {
    **COMMON,
    "400": _error("A parameter or the body is malformed; the error names it."),
    "404": _error("No recording with that SID."),
}
SID = {"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}
TOKEN_ONLY: list[dict[str, list[str]]] = [{"apiToken": []}]


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


LISTING_PARAMETERS = [
    _query("state", "The archive state.", enum=STATES),
    _query("provider", "", enum=["twilio", "signalwire", "telnyx"]),
    _query("account_sid", "Exactly this account.", pattern=f"^{SID_SHAPE}$"),
    _query("call_sid", "Exactly this call.", pattern=f"^{SID_SHAPE}$"),
    _query(
        "phone",
        "Either side of the call: a number written any common way, or its last four or "
        "more digits.",
        pattern=f"^{PHONE_SHAPE}$",
        maxLength=PHONE_LONGEST,
    ),
    _query("since", "ISO 8601: recorded at or after (a date means its start, UTC).")
    | {"schema": {"type": "string", "format": "date-time"}},
    _query("until", "ISO 8601: recorded before (a date means the end of that day, UTC).")
    | {"schema": {"type": "string", "format": "date-time"}},
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
    },
    _query(
        "after",
        "The cursor: follow `next` as given rather than building it.",
        pattern=f"^{CURSOR_SHAPE}$",
    ),
]

PATHS: dict[str, Any] = {
    "/api/v1/recordings": {
        "get": {
            "summary": "Recordings, newest first, a page at a time",
            "security": TOKEN_ONLY,
            "parameters": LISTING_PARAMETERS,
            "responses": {
                "200": _json(
                    "A page; `next` is the next page's URL, or null after the last.",
                    {
                        "type": "object",
                        "properties": {
                            "recordings": {"type": "array", "items": RECORDING},
                            "next": NULLABLE_STRING,
                        },
                        "required": ["recordings", "next"],
                    },
                ),
                "400": _error("A parameter is unknown, repeated or malformed; the error names it."),
                **COMMON,
            },
        }
    },
    "/api/v1/recordings/{sid}": {
        "get": {
            "summary": "One recording",
            "security": TOKEN_ONLY,
            "parameters": [SID],
            "responses": {"200": _json("The recording.", RECORDING), **ONE},
        }
    },
    "/api/v1/recordings/{sid}/media": {
        "get": {
            "summary": "The archived audio (audited)",
            "security": TOKEN_ONLY,
            "parameters": [
                SID,
                _query("download", "1: as an attachment.", enum=["1"]),
            ],
            "responses": {
                "200": {"description": "The bytes (local folder)."},
                "206": {"description": "The range asked for (local folder)."},
                "302": {"description": "To a presigned URL of the store, valid for 5 minutes."},
                "416": {"description": "The range is outside the file."},
                **ONE,
            },
        }
    },
    "/api/v1/recordings/{sid}/retry": {
        "post": {
            "summary": "Queue a failed recording again (operator)",
            "security": TOKEN_ONLY,
            "parameters": [SID],
            "responses": {
                "202": _json("Queued.", RECORDING),
                "403": _error("The token's role is below operator."),
                "409": _error("Only a failed recording can be retried."),
                **ONE,
            },
        }
    },
    "/api/v1/recordings/{sid}/legal-hold": {
        "post": {
            "summary": "Set or lift the store's legal hold (operator)",
            "security": TOKEN_ONLY,
            "parameters": [SID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"on": {"type": "boolean"}},
                            "required": ["on"],
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "200": _json("The recording, with its hold.", RECORDING),
                "403": _error("The token's role is below operator."),
                "409": _error("The store cannot hold it (no Object Lock), or nothing is archived."),
                "501": _error("Legal holds are not available in this version."),
                **ONE,
            },
        }
    },
    "/api/v1/recordings/{sid}/share": {
        "post": {
            "summary": "A link that plays and downloads this recording without a login",
            "security": TOKEN_ONLY,
            "parameters": [SID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "expires_in": {"type": "integer", "minimum": 1, "maximum": 604800}
                            },
                            "required": ["expires_in"],
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "201": _json(
                    "The link.",
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "url": {"type": "string"},
                            "expires_at": {"type": "string", "format": "date-time"},
                        },
                        "required": ["url", "expires_at"],
                    },
                ),
                **ONE,
            },
        }
    },
    "/share/{token}": {
        "get": {
            "summary": "A share link's page (HTML, no login)",
            "parameters": [
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "The player.", "content": {"text/html": {}}},
                "404": {"description": "No such link.", "content": {"text/html": {}}},
                "410": {"description": "Expired or withdrawn.", "content": {"text/html": {}}},
            },
        }
    },
}

SECURITY_SCHEMES = {
    "apiToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token made with `flask --app app tokens create NAME --role ROLE`.",
    }
}

PART: dict[str, Any] = {
    "paths": PATHS,
    "securitySchemes": SECURITY_SCHEMES,
    "description": (
        "The recordings API under /api/v1/ wants Authorization: Bearer <token> (a token made "
        "with `flask --app app tokens create`); its role (viewer, operator, admin) decides what "
        "it may do."
    ),
}
