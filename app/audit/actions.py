"""Every audit action's name, in one place: short dotted names, stable once written
(exports and filters name them)."""

from __future__ import annotations

LOGIN = "login"
LOGIN_FAILED = "login.failed"
LOGOUT = "logout"
RECORDING_LISTEN = "recording.listen"
RECORDING_DOWNLOAD = "recording.download"
RECORDING_RETRY = "recording.retry"
RECORDING_ARCHIVE_AGAIN = "recording.archive_again"
RECORDINGS_BULK_RETRY = "recordings.bulk_retry"
USER_ADD = "user.add"
USER_SET_ROLE = "user.set_role"
USER_SET_PASSWORD = "user.set_password"  # noqa: S105  (an action name)
USER_REMOVE = "user.remove"
TOKEN_CREATE = "token.create"  # noqa: S105
TOKEN_REVOKE = "token.revoke"  # noqa: S105
LEGAL_HOLD_ON = "legal_hold.on"
LEGAL_HOLD_OFF = "legal_hold.off"
SHARE_CREATE = "share.create"
SHARE_REVOKE = "share.revoke"

ALL = (
    LOGIN,
    LOGIN_FAILED,
    LOGOUT,
    RECORDING_LISTEN,
    RECORDING_DOWNLOAD,
    RECORDING_RETRY,
    RECORDING_ARCHIVE_AGAIN,
    RECORDINGS_BULK_RETRY,
    USER_ADD,
    USER_SET_ROLE,
    USER_SET_PASSWORD,
    USER_REMOVE,
    TOKEN_CREATE,
    TOKEN_REVOKE,
    LEGAL_HOLD_ON,
    LEGAL_HOLD_OFF,
    SHARE_CREATE,
    SHARE_REVOKE,
)

# Who did it: ``user:<name>``, ``token:<name>``, ``share:<id>``, or ``cli``.
CLI = "cli"


def user_actor(name: str) -> str:
    return f"user:{name}"


def token_actor(name: str) -> str:
    return f"token:{name}"


def share_actor(share_id: str | int) -> str:
    return f"share:{share_id}"
