"""Batch jobs and their rows (`Batches(store)`): the state a batch run resumes from.

A job's spec is stored whole (JSON) when it is created; rows are the documents, one each, and
change only through `claim`/`finish`/`release`, so a job killed at any moment holds rows that
are pending, done or failed, and at worst some `running` ones, which `recover` sets back to
pending. Nothing here knows about models: app/core/batch*.py decides what a spec means.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from .clock import utc_now
from .errors import stored_json

if TYPE_CHECKING:
    from .db import Store

JOB_STATUSES = ("ready", "running", "paused", "cancelled", "done")
ROW_STATUSES = ("pending", "running", "done", "failed")
_JOB_COLUMNS = "id, name, spec, spec_sha256, out_path, status, created_at, updated_at"
_ROW_COLUMNS = ("id, job_id, seq, path, status, answer, reasoning, columns, reason, attempts, "
                "prompt_tokens, generated_tokens, seconds, record, updated_at")


def spec_digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    spec: dict = field(hash=False)
    spec_sha256: str
    out_path: str | None
    status: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Row:
    id: int
    job_id: int
    seq: int
    path: str
    status: str
    answer: str = ""
    reasoning: str = ""
    columns: dict = field(default_factory=dict, hash=False)
    reason: str | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    record: dict = field(default_factory=dict, hash=False)
    updated_at: str = ""


@dataclass(frozen=True)
class Counts:
    pending: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    generated_tokens: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.running + self.done + self.failed

    @property
    def finished(self) -> int:
        return self.done + self.failed


def _job(row: tuple) -> Job:
    values = dict(zip([c.strip() for c in _JOB_COLUMNS.split(",")], row))
    values["spec"] = stored_json(values["spec"], {}, dict)
    return Job(**values)


def _row(row: tuple) -> Row:
    values = dict(zip([c.strip() for c in _ROW_COLUMNS.split(",")], row))
    values["columns"] = stored_json(values["columns"], {}, dict)
    values["record"] = stored_json(values["record"], {}, dict)
    return Row(**values)


class Batches:
    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def _conn(self):
        return self._store.conn

    # -- jobs ---------------------------------------------------------------------------

    def create(self, name: str, spec: dict, paths: Sequence[str],
               out_path: str | None = None) -> Job:
        """A new job with a pending row per path, in one transaction."""
        now = utc_now()
        with self._store.transaction():
            cur = self._conn.execute(
                "INSERT INTO batch_jobs (name, spec, spec_sha256, out_path, status, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 'ready', ?, ?)",
                (name, json.dumps(spec, ensure_ascii=False), spec_digest(spec), out_path, now, now))
            job_id = cur.lastrowid
            self._conn.executemany(
                "INSERT INTO batch_rows (job_id, seq, path, updated_at) VALUES (?, ?, ?, ?)",
                [(job_id, i, str(p), now) for i, p in enumerate(paths)])
        return self.get(job_id)

    def get(self, job_id: int) -> Job | None:
        row = self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM batch_jobs WHERE id = ?",
                                 (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self) -> list[Job]:
        rows = self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM batch_jobs ORDER BY id DESC")
        return [_job(r) for r in rows.fetchall()]

    def for_output(self, out_path: str) -> Job | None:
        """The newest job writing to this file (how `hearth batch` finds what to resume)."""
        row = self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM batch_jobs WHERE out_path = ?"
                                 " ORDER BY id DESC LIMIT 1", (out_path,)).fetchone()
        return _job(row) if row else None

    def set_status(self, job_id: int, status: str) -> None:
        if status not in JOB_STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        with self._store.transaction():
            self._conn.execute("UPDATE batch_jobs SET status = ?, updated_at = ? WHERE id = ?",
                               (status, utc_now(), job_id))

    def delete(self, job_id: int) -> None:
        with self._store.transaction():
            self._conn.execute("DELETE FROM batch_jobs WHERE id = ?", (job_id,))

    # -- rows ---------------------------------------------------------------------------

    def rows(self, job_id: int, statuses: Iterable[str] | None = None) -> list[Row]:
        sql = f"SELECT {_ROW_COLUMNS} FROM batch_rows WHERE job_id = ?"
        args: list = [job_id]
        if statuses is not None:
            wanted = list(statuses)
            sql += f" AND status IN ({', '.join('?' * len(wanted))})"
            args += wanted
        return [_row(r) for r in self._conn.execute(sql + " ORDER BY seq", args).fetchall()]

    def row(self, row_id: int) -> Row | None:
        found = self._conn.execute(f"SELECT {_ROW_COLUMNS} FROM batch_rows WHERE id = ?",
                                   (row_id,)).fetchone()
        return _row(found) if found else None

    def counts(self, job_id: int) -> Counts:
        found = {status: 0 for status in ROW_STATUSES}
        for status, n in self._conn.execute(
                "SELECT status, COUNT(*) FROM batch_rows WHERE job_id = ? GROUP BY status",
                (job_id,)):
            found[status] = n
        tokens = self._conn.execute("SELECT COALESCE(SUM(generated_tokens), 0) FROM batch_rows"
                                    " WHERE job_id = ?", (job_id,)).fetchone()[0]
        return Counts(**found, generated_tokens=tokens)

    def recover(self, job_id: int) -> int:
        """Rows left `running` by a run that ended without finishing them (a kill, a pause):
        pending again. Returns how many."""
        with self._store.transaction():
            cur = self._conn.execute(
                "UPDATE batch_rows SET status = 'pending', updated_at = ? WHERE job_id = ?"
                " AND status = 'running'", (utc_now(), job_id))
        return cur.rowcount

    def claim(self, row_id: int) -> None:
        with self._store.transaction():
            self._conn.execute("UPDATE batch_rows SET status = 'running', updated_at = ?"
                               " WHERE id = ?", (utc_now(), row_id))

    def release(self, row_ids: Iterable[int]) -> None:
        with self._store.transaction():
            self._conn.executemany("UPDATE batch_rows SET status = 'pending', updated_at = ?"
                                   " WHERE id = ? AND status = 'running'",
                                   [(utc_now(), i) for i in row_ids])

    def retry_failed(self, job_id: int) -> int:
        """Every failed row pending again (their attempts start over); returns how many."""
        with self._store.transaction():
            cur = self._conn.execute(
                "UPDATE batch_rows SET status = 'pending', reason = NULL, attempts = 0,"
                " updated_at = ? WHERE job_id = ? AND status = 'failed'", (utc_now(), job_id))
        return cur.rowcount

    def finish(self, row_id: int, *, status: str, answer: str = "", reasoning: str = "",
               columns: dict | None = None, reason: str | None = None, attempts: int = 0,
               prompt_tokens: int = 0, generated_tokens: int = 0, seconds: float = 0.0,
               record: dict | None = None) -> None:
        if status not in ("done", "failed"):
            raise ValueError(f"a row finishes done or failed, not {status!r}")
        with self._store.transaction():
            self._conn.execute(
                "UPDATE batch_rows SET status = ?, answer = ?, reasoning = ?, columns = ?,"
                " reason = ?, attempts = ?, prompt_tokens = ?, generated_tokens = ?,"
                " seconds = ?, record = ?, updated_at = ? WHERE id = ?",
                (status, answer, reasoning, json.dumps(columns or {}, ensure_ascii=False),
                 reason, attempts, prompt_tokens, generated_tokens, seconds,
                 json.dumps(record or {}, ensure_ascii=False), utc_now(), row_id))
