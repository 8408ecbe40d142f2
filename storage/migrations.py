"""Migration registry and runner.

Migrations are append-only: each is a function decorated with
``@migration(n)`` (n = 1, 2, 3, … in order) that receives the
``sqlite_utils.Database`` and changes the schema.  The runner applies every
migration newer than the database's ``PRAGMA user_version``, each in its own
``BEGIN IMMEDIATE`` transaction together with the ``user_version`` bump, so a
failure leaves the database at the previous version.  Never edit or reorder a
shipped migration: add a new one.

Rules for migration bodies:

* run statements through :func:`execute_script` or ``db.execute``; do not use
  ``sqlite3.Connection.executescript`` or sqlite-utils helpers that commit on
  their own (``table.transform``…): they would end the migration's transaction;
* ``PRAGMA foreign_keys`` cannot change inside a transaction, so table rebuilds
  must keep foreign keys valid at every statement.

The migrations themselves live in :mod:`storage.schema`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from common.errors import UserError

MigrationFn = Callable[[Database], None]


@dataclass(frozen=True)
class Migration:
    version: int  # the user_version the database has once this ran
    name: str  # the function's name, for error messages
    apply: MigrationFn


MIGRATIONS: list[Migration] = []


class SchemaTooNewError(UserError, RuntimeError):
    """The database was written by a newer Hearth; refuse to touch it."""


def migration(version: int) -> Callable[[MigrationFn], MigrationFn]:
    """Register the decorated function as migration number ``version``."""

    def register(fn: MigrationFn) -> MigrationFn:
        expected = len(MIGRATIONS) + 1
        if version != expected:
            raise RuntimeError(
                f"migration {fn.__name__} declares version {version}, expected {expected}"
            )
        MIGRATIONS.append(Migration(version, fn.__name__, fn))
        return fn

    return register


def latest_version(migrations: Sequence[Migration] | None = None) -> int:
    """The schema version a fully migrated database has."""
    return len(MIGRATIONS if migrations is None else migrations)


def schema_version(db: Database) -> int:
    """The database's current ``PRAGMA user_version``."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def execute_script(db: Database, script: str) -> None:
    """Run ``;``-separated statements one by one, inside the current transaction.

    Unlike ``Connection.executescript`` this never commits.  Trigger bodies
    (``BEGIN … END;``) are kept whole thanks to ``sqlite3.complete_statement``.
    """
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if pending.strip(" \t\r\n;") and sqlite3.complete_statement(pending):
            db.execute(pending)
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement: {pending!r}")


def apply_migrations(
    db: Database,
    *,
    target: int | None = None,
    migrations: Sequence[Migration] | None = None,
    before: Callable[[int], None] | None = None,
) -> int:
    """Bring ``db`` up to ``target`` (default: latest); return the new version.

    Safe to run from several connections at once: the version is re-read
    after taking the write lock, so a migration is never applied twice.
    ``migrations`` defaults to the registry (tests pass their own).
    ``before(current_version)`` runs once before the first migration of a database
    that has a schema already (version >= 1), while this connection holds the write lock
    but has written nothing: the backup, read through another connection, is exactly the
    state being upgraded.  If it raises, nothing is changed.
    """
    steps = list(MIGRATIONS if migrations is None else migrations)
    latest = latest_version(steps)
    target = latest if target is None else target
    if not 0 <= target <= latest:
        raise ValueError(f"target version {target} is outside 0..{latest}")
    current = schema_version(db)
    if current > latest:
        raise SchemaTooNewError(
            f"database schema version {current} is newer than this Hearth "
            f"supports ({latest}); update Hearth to open it"
        )
    conn = db.conn
    if current == 0:  # a new database: nothing to back up (another connection may be creating it)
        before = None
    for step in steps[current:target]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = schema_version(db)
            if now >= step.version:  # another connection did it
                conn.execute("ROLLBACK")
                continue
            if before is not None and now == current:  # not mid-way through another's run
                before(now)
            before = None
            step.apply(db)
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return schema_version(db)
