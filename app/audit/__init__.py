"""The append-only, hash-chained audit log: who did what to which recording (issue 16).

``record`` (append in the caller's transaction), ``verify`` (the first entry
that does not match), the action names in ``actions``.
"""

from app.audit.log import record, verify
from app.audit.models import AuditEntry

__all__ = ["AuditEntry", "record", "verify"]
