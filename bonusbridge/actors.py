"""Who performs an operation, and what they may do. Staff identity comes from the caller."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Permission(enum.StrEnum):
    ADJUST = "adjust"
    MERGE = "merge"
    RECONCILE = "reconcile"


@dataclass(frozen=True)
class Actor:
    """A person or system acting on the ledger. ``name`` is recorded on every movement it makes."""

    name: str
    permissions: frozenset[Permission] = field(default_factory=frozenset)

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


SYSTEM = Actor("system")
