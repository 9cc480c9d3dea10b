"""Team access rules: who may read and who may upload to each collection.

Pure functions over the store's ``collections`` rows; the UI calls them with the
signed-in :class:`Principal` and passes the result to ``RAG.search`` / ``ask_stream``
as ``collections=``, where the filter is applied *inside* the FAISS and FTS5 searches
(rag/retrieval.py), so a passage of an unreadable collection is never a candidate.

An access list is a comma-separated string of entries (see :func:`parse_entries`):

- ``alice@example.com``: that user (case-insensitive);
- ``@example.com``: every user whose email ends with ``@example.com``;
- ``*``: every signed-in user.

In team mode an empty ``readers`` or ``uploaders`` list means *admins only*
(closed by default). Admins read, upload to and manage every collection. Uploaders of
a collection may also read it (they see what they added). Without a principal
(single-user mode, no sign-in configured) nothing is restricted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)

ANYONE = "*"
_SPLIT = re.compile(r"[,;\s]+")


class CollectionSource(Protocol):
    """What the rules need from the store (``rag.store.Store`` satisfies it)."""

    def collections(self) -> list[dict]: ...


@dataclass(frozen=True)
class Principal:
    """A signed-in user: normalised email and whether they are an admin."""

    email: str
    is_admin: bool = False


def parse_entries(spec: str | Iterable[str] | None) -> list[str]:
    """Normalise an access list: lower-cased entries, blanks and duplicates dropped.

    Raises:
        ValueError: an entry is neither ``*``, ``@domain`` nor an email address.
    """
    raw = _SPLIT.split(spec) if isinstance(spec, str) else list(spec or [])
    out: list[str] = []
    for entry in (e.strip().lower() for e in raw):
        if not entry or entry in out:
            continue
        if entry != ANYONE and "@" not in entry:
            raise ValueError(f"'{entry}' is not an email address, an @domain or *")
        if entry != ANYONE and entry.count("@") != 1:
            raise ValueError(f"'{entry}' is not an email address, an @domain or *")
        out.append(entry)
    return out


def format_entries(spec: str | Iterable[str] | None) -> str:
    """The stored form of an access list (``"a@x.org, @y.org"``)."""
    return ", ".join(parse_entries(spec))


def matches(email: str, entries: str | Iterable[str] | None) -> bool:
    """Whether ``email`` is named by one of ``entries`` (exact email, ``@domain`` or ``*``)."""
    email = (email or "").strip().lower()
    if not email or "@" not in email:
        return False
    domain = "@" + email.rsplit("@", 1)[1]
    for entry in _lenient(entries):
        if entry == ANYONE or entry == email or (entry.startswith("@") and entry == domain):
            return True
    return False


def principal_for(email: str, admins: Iterable[str]) -> Principal:
    """The principal of a signed-in ``email``; admin when ``admins`` names it."""
    email = (email or "").strip().lower()
    return Principal(email=email, is_admin=matches(email, list(admins)))


def may_read(row: dict, principal: Principal | None) -> bool:
    """Whether ``principal`` may read the collection ``row`` (a ``store.collections()`` item)."""
    if principal is None or principal.is_admin:
        return True
    return matches(principal.email, row.get("readers")) or matches(principal.email, row.get("uploaders"))


def readable_collections(store: CollectionSource, principal: Principal | None) -> list[str] | None:
    """Names of the collections ``principal`` may read; ``None`` means unrestricted (single-user mode)."""
    if principal is None:
        return None
    return [c["name"] for c in store.collections() if may_read(c, principal)]


def uploadable_collections(store: CollectionSource, principal: Principal | None) -> list[str]:
    """Names of the existing collections ``principal`` may upload to."""
    return [c["name"] for c in store.collections() if _may_upload_row(c, principal)]


def may_upload(store: CollectionSource, principal: Principal | None, collection: str) -> bool:
    """Whether ``principal`` may add documents to ``collection``.

    Only admins (or single-user mode) may upload into a collection that does not exist yet,
    since uploading there creates it.
    """
    row = next((c for c in store.collections() if c["name"] == collection), None)
    if row is None:
        return principal is None or principal.is_admin
    return _may_upload_row(row, principal)


def may_manage(principal: Principal | None) -> bool:
    """Whether ``principal`` may create, rename, delete collections and edit their access lists."""
    return principal is None or principal.is_admin


def restrict(chosen: Sequence[str] | None, readable: Sequence[str] | None) -> list[str] | None:
    """The user's chosen scope intersected with what they may read.

    ``chosen`` ``None`` means "all"; the result is ``None`` only when both are unrestricted,
    and ``[]`` (search nothing) when nothing chosen is readable.
    """
    if readable is None:
        return list(chosen) if chosen is not None else None
    if chosen is None:
        return list(readable)
    allowed = set(readable)
    return [c for c in chosen if c in allowed]


def _may_upload_row(row: dict, principal: Principal | None) -> bool:
    if principal is None or principal.is_admin:
        return True
    return matches(principal.email, row.get("uploaders"))


def _lenient(entries: str | Iterable[str] | None) -> list[str]:
    """Entries as stored, invalid ones skipped (they grant nothing) with a log line."""
    raw = _SPLIT.split(entries) if isinstance(entries, str) else list(entries or [])
    out = []
    for e in (x.strip().lower() for x in raw):
        if not e:
            continue
        if e != ANYONE and e.count("@") != 1:
            logger.warning("ignoring access entry %r (not an email, @domain or *)", e)
            continue
        out.append(e)
    return out
