"""The console's roles, each allowed all the one below it may do (contract: People)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    VIEWER = "viewer"  # find recordings, see their pages, listen, download
    OPERATOR = "operator"  # + retry, archive again, bulk retry, legal hold
    ADMIN = "admin"  # + users and API tokens, the audit log

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether someone with this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
ROLE_NAMES = tuple(role.value for role in Role)
