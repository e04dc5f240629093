"""The ledger: an eventsourcing application over embedded SQLite or PostgreSQL.

Invariants:
- Opening never creates or alters a store unless asked to (`create=True`, used by `init`):
  a missing, empty, truncated or foreign file is reported as damaged and left untouched.
- Saves are batched (`save(*aggregates)` is one transaction, all or nothing) and pass the
  crash points `ledger.before_save` and `ledger.after_save`.
- SQLite runs with the library's defaults (WAL, synchronous=FULL): this is an audit log.
- Raw reads (`read_after`) return rows in notification order; with SQLite the rowid is the
  notification id and commit order, so a reader never skips a late commit.
- A PostgreSQL password comes from the URL or, when the URL has none, from
  PHOTOLEDGER_LEDGER_PASSWORD or the file PHOTOLEDGER_LEDGER_PASSWORD_FILE names; messages
  show the URL with *** for its password.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sqlite3
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    MapperDeserialisationError,
    OperationalError,
    PersistenceError,
)

from engine.asset import Asset, MediaState, SyncRun
from engine.crashpoints import CrashPoints
from engine.errors import (
    ConfigError,
    LedgerDamagedError,
    LedgerUnavailableError,
    NotFoundError,
    StorageError,
)
from engine.mapper import MsgspecMapper
from engine.secrets import LEDGER_PASSWORD, read_secret, remember

SQLITE_HEADER = b"SQLite format 3\x00"
__all__ = ["DecideAgain", "IntegrityError", "Ledger", "RawEvent", "fact_fields", "open_ledger"]

DecideAgain = Callable[[MediaState, list[Any]], list[Any]]
"""Given an asset's state as the ledger now holds it and the facts decided on a stale copy of
it, the facts that still hold (to be recorded again), in order."""
_IDENTITY_FIELDS = frozenset({"originator_id", "originator_version", "run_id"})


def fact_fields(fact: Any) -> dict[str, Any]:
    """A recorded fact's own fields (its timestamp too), to record the same fact again."""
    return {
        f.name: getattr(fact, f.name)
        for f in dataclasses.fields(fact)
        if f.name not in _IDENTITY_FIELDS
    }


class RawEvent(NamedTuple):
    """One stored event as the store holds it (for fast replays; no domain objects)."""

    position: int
    originator_id: str  # 32-char lower-case hex
    originator_version: int
    topic: str
    state: bytes


class LedgerApp(Application[UUID]):
    """The eventsourcing application; configured only through the `env` passed in."""

    name = "photoledger"

    def construct_mapper(self) -> MsgspecMapper:
        return MsgspecMapper()


@dataclass
class Ledger:
    """The application plus what the rest of photoledger needs from the store."""

    app: LedgerApp
    backend: str  # "sqlite" or "postgresql"
    location: str  # file path, or the URL without its password
    crash: CrashPoints
    sqlite_path: Path | None = None

    def save(self, *aggregates: Asset | SyncRun) -> int:
        """Append all pending events of `aggregates` in one transaction; return the position."""
        self.crash.reach("ledger.before_save")
        try:
            recordings = self.app.save(*aggregates)
        except IntegrityError:
            raise
        except (OperationalError, PersistenceError) as exc:
            raise _store_error(self, exc) from exc
        self.crash.reach("ledger.after_save")
        return max((r.notification.id for r in recordings), default=self.max_position())

    def save_deciding_again(
        self, assets: Sequence[Asset], decide_again: DecideAgain, *, attempts: int = 3
    ) -> int:
        """Save one batch of existing assets. When another writer moved one of them on since
        it was read (a stale expected version: the store refuses the whole batch), re-read
        every asset of the batch and let `decide_again` record on each fresh copy what still
        holds of the facts decided on the stale one; then try again."""
        batch = list(assets)
        for _attempt in range(attempts):
            decided = {asset.id: list(asset.pending_events) for asset in batch}  # save pops them
            try:
                return self.save(*batch)
            except IntegrityError:
                batch = [self._decided_again(i, done, decide_again) for i, done in decided.items()]
        raise LedgerUnavailableError(
            f"ledger {self.location}: another writer kept changing these assets ({attempts} tries)"
        )

    def _decided_again(self, asset_id: UUID, facts: list[Any], decide_again: DecideAgain) -> Asset:
        fresh = self.get_asset(asset_id)
        for fact in decide_again(fresh.state, facts):
            fresh.record(type(fact), fact.run_id, **fact_fields(fact))
        return fresh

    def get_asset(self, asset_id: UUID) -> Asset:
        """Replay one asset from its events."""
        try:
            asset: object = self.app.repository.get(asset_id)
        except MapperDeserialisationError as exc:
            raise LedgerDamagedError(f"ledger {self.location}: {exc}") from exc
        except AggregateNotFoundError:
            raise NotFoundError(f"asset {asset_id} is not in the ledger") from None
        except (OperationalError, PersistenceError, sqlite3.DatabaseError) as exc:
            raise _store_error(self, exc) from exc
        if not isinstance(asset, Asset):
            raise NotFoundError(f"{asset_id} is not an asset (it is a {type(asset).__name__})")
        return asset

    def events_of(self, originator_id: UUID) -> list[Any]:
        """Every event of one aggregate, oldest first."""
        try:
            return list(self.app.events.get(originator_id))
        except MapperDeserialisationError as exc:
            raise LedgerDamagedError(f"ledger {self.location}: {exc}") from exc
        except (OperationalError, PersistenceError, sqlite3.DatabaseError) as exc:
            raise _store_error(self, exc) from exc

    def max_position(self) -> int:
        """The notification id of the newest event (0 for an empty ledger)."""
        try:
            return int(self.app.recorder.max_notification_id() or 0)
        except (OperationalError, PersistenceError, sqlite3.DatabaseError) as exc:
            raise _store_error(self, exc) from exc

    def read_after(self, position: int, limit: int) -> list[RawEvent]:
        """Up to `limit` raw events with position > `position`, in order."""
        try:
            if self.sqlite_path is not None:
                return _sqlite_read_after(self.sqlite_path, position, limit)
            rows = self.app.recorder.select_notifications(
                start=position, limit=limit, inclusive_of_start=False
            )
        except (OperationalError, PersistenceError, sqlite3.DatabaseError) as exc:
            raise _store_error(self, exc) from exc
        return [
            RawEvent(n.id, _hex(n.originator_id), n.originator_version, n.topic, bytes(n.state))
            for n in rows
        ]

    def iter_pages(self, page_size: int = 20_000) -> Iterator[list[RawEvent]]:
        """Every raw event in notification order, a page (list) at a time.

        The next page is read on a second thread while the caller works through this one (the
        store's read runs without the GIL), so a replay overlaps reading with decoding.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-read") as reader:
            page = self.read_after(0, page_size)
            while page:
                upcoming = reader.submit(self.read_after, page[-1].position, page_size)
                yield page
                page = upcoming.result()

    def iter_all(self, page_size: int = 20_000) -> Iterator[RawEvent]:
        """Every raw event in notification order (pages read ahead, see iter_pages)."""
        for page in self.iter_pages(page_size):
            yield from page

    def close(self) -> None:
        """Release the store's connections."""
        self.app.close()


def _hex(originator_id: Any) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(str(originator_id)).hex


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that can neither create nor change the SQLite file at `path`."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _sqlite_read_after(path: Path, position: int, limit: int) -> list[RawEvent]:
    # A fresh read-only connection: raw tuples are ~4x faster than the library's Row objects.
    con = connect_read_only(path)
    try:
        rows = con.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (position, limit),
        ).fetchall()
    finally:
        con.close()
    return list(map(RawEvent._make, rows))


def _store_error(ledger: Ledger, exc: BaseException) -> Exception:
    text = _first_line(exc)
    if ledger.backend == "postgresql":
        return LedgerUnavailableError(f"PostgreSQL ledger {ledger.location}: {text}")
    if is_disk_full(exc):  # nothing is damaged: SQLite rolled the transaction back
        return StorageError(
            f"ledger {ledger.location} cannot be written: the disk is full ({text}); "
            "free space and run again"
        )
    return LedgerDamagedError(f"ledger {ledger.location} cannot be read: {text}")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or an error it wraps) is SQLite's SQLITE_FULL or a full disk's OSError."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def open_ledger(
    state_dir: Path, url: str | None, crash: CrashPoints, *, create: bool = False
) -> Ledger:
    """Open the configured ledger; `create` allows making a new, empty one (init only)."""
    if url is None:
        return _open_sqlite(state_dir / "ledger.db", crash, create=create)
    return _open_postgres(url, crash, create=create)


def _open_sqlite(path: Path, crash: CrashPoints, *, create: bool) -> Ledger:
    exists = path.exists()
    if exists:
        check_sqlite_file(path)
    elif not create:
        raise LedgerDamagedError(
            f"no ledger at {path}: run `photoledger init` for a new library, or restore the file"
        )
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "y" if create else "n",
    }
    try:
        app = LedgerApp(env=env)
    except (OperationalError, PersistenceError, sqlite3.DatabaseError) as exc:
        raise LedgerDamagedError(f"ledger {path} cannot be opened: {exc}") from exc
    return Ledger(app=app, backend="sqlite", location=str(path), crash=crash, sqlite_path=path)


def check_sqlite_file(path: Path) -> None:
    """Cheap structural checks that run before the store is opened; raise LedgerDamagedError."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(100)
    if size == 0:
        raise LedgerDamagedError(f"ledger {path} is empty (0 bytes): truncated? restore it")
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise LedgerDamagedError(f"ledger {path} is not an SQLite database: damaged or foreign")
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", header[24:32])
    valid_for = struct.unpack(">I", header[92:96])[0]
    if valid_for == change_counter and size < page_count * page_size:
        raise LedgerDamagedError(
            f"ledger {path} is truncated ({size} bytes, header says {page_count * page_size})"
        )
    try:
        con = connect_read_only(path)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise LedgerDamagedError(f"ledger {path} cannot be read: {exc}") from exc
    if "stored_events" not in tables:
        raise LedgerDamagedError(f"ledger {path} has no event table: not a photoledger ledger")


def postgres_settings(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """postgres_env, with PHOTOLEDGER_LEDGER_PASSWORD(_FILE) when the URL holds no password."""
    env = postgres_env(url)
    if env["POSTGRES_PASSWORD"]:
        remember(env["POSTGRES_PASSWORD"])
    else:
        env["POSTGRES_PASSWORD"] = read_secret(LEDGER_PASSWORD, environ) or ""
    return env


def postgres_env(url: str) -> dict[str, str]:
    """eventsourcing's POSTGRES_* settings from a postgresql:// URL (`?schema=` optional)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")),
        "POSTGRES_HOST": unquote(parsed.hostname or "localhost"),
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": unquote(parsed.username or ""),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "10",
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")).geturl()


def _probe_postgres(env: dict[str, str], location: str) -> None:
    """One direct connection: fails at once with libpq's reason (the pool waits 10 s, vaguely)."""
    try:
        import psycopg
    except ImportError:  # a runtime-only install: PostgreSQL support is the `postgres` extra
        raise ConfigError(
            f"ledger.url names a PostgreSQL ledger ({location}) but PostgreSQL support is not "
            "installed: pip install 'photoledger[postgres]'"
        ) from None

    try:
        psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            dbname=env["POSTGRES_DBNAME"],
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        ).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())  # libpq messages span lines; never hold the password
        raise LedgerUnavailableError(f"PostgreSQL ledger {location}: {reason}") from None


def _open_postgres(url: str, crash: CrashPoints, *, create: bool) -> Ledger:
    env = postgres_settings(url, os.environ)
    env["CREATE_TABLE"] = "y" if create else "n"
    location = redact_url(url)
    _probe_postgres(env, location)
    try:
        app = LedgerApp(env=env)
        app.recorder.max_notification_id()
    except (OperationalError, PersistenceError) as exc:
        text = _first_line(exc)
        if "does not exist" in text and not create:
            raise LedgerDamagedError(
                f"PostgreSQL ledger {location} has no event table: run `photoledger init`"
            ) from exc
        raise LedgerUnavailableError(f"PostgreSQL ledger {location}: {text}") from exc
    return Ledger(app=app, backend="postgresql", location=location, crash=crash)
