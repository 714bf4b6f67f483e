"""What an authentication must satisfy: a minimum real-name level and a maximum age.

Clients demand it (``min_acr_level``, ``default_max_age``) and so do service items: the catalog
records per implementation item the level and age that signing in for it needs (issue #3). Identity
does not read the catalog; the composition root hands it an :class:`ItemRequirements` lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class AuthRequirement:
    """A minimum real-name level (2–5) and a maximum authentication age in seconds; None: no demand."""

    level: int | None = None
    max_age: int | None = None

    def stricter(self, other: AuthRequirement | None) -> AuthRequirement:
        """Both demands at once: the higher level and the shorter age."""
        if other is None:
            return self
        levels = [x for x in (self.level, other.level) if x is not None]
        ages = [x for x in (self.max_age, other.max_age) if x is not None]
        return AuthRequirement(max(levels) if levels else None, min(ages) if ages else None)


@dataclass(frozen=True, slots=True)
class ItemDemand:
    """An item's requirement, with the names the person sees when it cannot be met."""

    code: str
    name: str
    requirement: AuthRequirement


class ItemRequirements(Protocol):
    """Finds what signing in for a service item needs (实施编码 or 业务办理项编码); None: no such item."""

    def __call__(self, db: Session, code: str, /) -> ItemDemand | None:
        """Look the item up in the caller's transaction."""
        ...
