"""Times as Fenpei stores and shows them: always aware, always UTC.

SQLite keeps a stored UTC time without its offset and PostgreSQL returns it in the session's
time zone; :func:`stored` reads either back as an aware UTC datetime, :func:`iso` writes one for
JSON, and :func:`utc` refuses a naive clock (a caller's ``now`` must say where it is).
"""

from __future__ import annotations

import datetime as dt
from typing import overload

__all__ = ["iso", "stored", "utc"]


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC; ValueError when it carries no offset."""
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(dt.timezone.utc)


@overload
def stored(moment: dt.datetime) -> dt.datetime: ...
@overload
def stored(moment: None) -> None: ...
def stored(moment: dt.datetime | None) -> dt.datetime | None:
    """A time read from the database as an aware UTC datetime (a naive one is UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def iso(moment: dt.datetime | None) -> str | None:
    """A stored time as ISO 8601 in UTC, for JSON (None stays None)."""
    return None if moment is None else stored(moment).isoformat()
