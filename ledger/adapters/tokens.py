"""API bearer tokens: who may call the HTTP API, in which role, for which organisation.

A token is shown once, when it is created, and stored only as its SHA-256
hash: a copy of the database (a backup, a read replica, an auditor's extract)
never lets anyone act as a CCG or the Board. Tokens live in the ledger's own
database (SQLAlchemy Core), so one setting, ``QP_LEDGER_DATABASE_URL``, still
chooses all storage.

The roles are the users of DESIGN.md: a CCG (organisation = its ODS code), a
local area team (organisation = its area team code, e.g. ``E39000015``), the
Board, auditors and reporting systems. What each role may do over HTTP is the
API's concern (``api/auth.py``, docs/security.md); this module only says who
the caller is.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Column, MetaData, String, Table, create_engine, select, update
from sqlalchemy.engine import Engine

from ledger.config import DEFAULT_DATABASE_URL, database_url_from_env
from ledger.domain.ccgs import ccgs, get_ccg
from ledger.domain.errors import InvalidCommand, NotFound

ROLES: tuple[str, ...] = ("ccg", "area-team", "board", "auditor", "reporter")
#: Roles that act for one organisation, and what that organisation is.
ORG_ROLES: dict[str, str] = {"ccg": "a CCG ODS code", "area-team": "an area team code"}
#: Every plaintext token starts with this, so a leaked one is easy to grep for.
TOKEN_PREFIX = "qpl_"

TOKENS_TABLE = "qp_ledger_api_tokens"
#: How long a process trusts a token it has verified before asking the database
#: again: the bound on how late a revocation made by another process (``qp-ledger
#: tokens revoke``) reaches a running server (docs/security.md). The process that
#: revokes forgets the token at once.
VERIFIED_SECONDS = 5.0
#: Verified tokens kept per process (only active tokens are kept, never a refusal).
VERIFIED_TOKENS = 1024


def tokens_table(metadata: MetaData | None = None) -> Table:
    return Table(
        TOKENS_TABLE,
        metadata or MetaData(),
        Column("id", String(16), primary_key=True),
        Column("token_sha256", String(64), nullable=False, unique=True),
        Column("role", String(16), nullable=False),
        Column("org", String(16), nullable=True),
        Column("label", String(200), nullable=True),
        Column("created_at", String(32), nullable=False),
        Column("revoked_at", String(32), nullable=True),
    )


@dataclass(frozen=True)
class Token:
    """A stored token (never its plaintext)."""

    id: str
    role: str
    org: str | None
    label: str | None
    created_at: str
    revoked_at: str | None = None

    @property
    def actor(self) -> str:
        """The actor recorded on every event written with this token."""
        who = f"{self.role}:{self.org}" if self.org else self.role
        return f"{who}#{self.id}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "actor": self.actor, "active": self.active}


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def area_team_codes() -> set[str]:
    return {c.area_team_code for c in ccgs().values()}


def check_role_and_org(role: str, org: str | None) -> None:
    """A token's organisation must exist in the reference data, and only org roles have one."""
    if role not in ROLES:
        raise InvalidCommand(f"role: {role!r} is not a role", field="role", allowed=list(ROLES))
    if role not in ORG_ROLES:
        if org is not None:
            raise InvalidCommand(f"org: a {role} token acts for no organisation", field="org")
        return
    if not org:
        raise InvalidCommand(f"org: a {role} token needs {ORG_ROLES[role]}", field="org")
    if role == "ccg" and get_ccg(org) is None:
        raise InvalidCommand(f"org: unknown CCG code {org!r}", field="org")
    if role == "area-team" and org not in area_team_codes():
        raise InvalidCommand(
            f"org: unknown area team code {org!r}", field="org", allowed=sorted(area_team_codes())
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TokenStore:
    """Create, check, list and revoke API tokens in the ledger's database."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        engine: Engine | None = None,
        verified_seconds: float = VERIFIED_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._owns_engine = engine is None
        self.engine = engine or create_engine(
            database_url or database_url_from_env() or DEFAULT_DATABASE_URL,
            hide_parameters=True,  # a failed lookup's parameters would log a token's hash
        )
        self.table = tokens_table()
        self.table.metadata.create_all(self.engine, checkfirst=True)
        # Every request authenticates, and the lookup was the largest part of a
        # kept read (bench/README.md): keep what was verified, keyed by the
        # token's hash (the plaintext is never kept), for ``verified_seconds``.
        self._verified: TTLCache[str, Token] | None = (
            TTLCache(VERIFIED_TOKENS, verified_seconds, timer=clock)
            if verified_seconds > 0
            else None
        )
        self._verified_lock = threading.Lock()
        # Raised by each revocation, so a lookup that raced one is not kept.
        self._revocations = 0

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def create(
        self, role: str, org: str | None = None, label: str | None = None
    ) -> tuple[Token, str]:
        """Store a new token's hash; return the token and its plaintext (shown once)."""
        check_role_and_org(role, org)
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = Token(id=secrets.token_hex(6), role=role, org=org, label=label, created_at=_now())
        with self.engine.begin() as conn:
            conn.execute(
                self.table.insert().values(token_sha256=hash_token(plaintext), **token.__dict__)
            )
        return token, plaintext

    def authenticate(self, plaintext: str) -> Token | None:
        """The active token with this plaintext, or None (unknown or revoked).

        A token verified here in the last ``verified_seconds`` is not looked up
        again; one revoked by another process is refused within that time.
        """
        if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
            return None
        digest = hash_token(plaintext)
        verified, revocations = self._verified, 0
        if verified is not None:
            with self._verified_lock:
                kept = verified.get(digest)
                revocations = self._revocations
            if kept is not None:
                return kept
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.token_sha256 == digest)).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        token = self._token(row)
        if verified is not None:
            with self._verified_lock:
                if self._revocations == revocations:
                    verified[digest] = token
        return token

    def list(self) -> list[Token]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.table).order_by(self.table.c.created_at)).mappings()
            return [self._token(row) for row in rows]

    def revoke(self, token_id: str) -> Token:
        """Revoke a token at once; its events keep its actor, so history stays attributable."""
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == token_id, t.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
            row = conn.execute(select(t).where(t.c.id == token_id)).mappings().first()
        self._forget(token_id)
        if row is None:
            raise NotFound(f"no token with id {token_id!r}", field="id")
        return self._token(row)

    def _forget(self, token_id: str) -> None:
        """This process refuses a token it revoked from its next request on."""
        if self._verified is None:
            return
        with self._verified_lock:
            self._revocations += 1
            for digest, token in list(self._verified.items()):
                if token.id == token_id:
                    self._verified.pop(digest, None)

    @staticmethod
    def _token(row: Any) -> Token:
        """The row as ``create`` wrote it from the token's fields (all but the hash)."""
        return Token(**{field.name: row[field.name] for field in fields(Token)})
