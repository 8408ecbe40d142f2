"""`hearth batch` for real: a table from a folder, resumed after SIGKILL by running it again."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.batch import save_prompt, write_reviews, write_schema

from app.cli.main import main
from storage import Store, database_path

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def prompt_saved():
    with Store() as store:
        save_prompt(store)


def batch_args(model, out, *files, extra=()):
    return ["batch", "--prompt", "review", "--var", "kind=review", "--model", str(model),
            "--out", str(out), "--max-tokens", "48", "--ctx-per-doc", "512", *extra,
            *[str(f) for f in files]]


def test_batch_writes_a_csv_with_a_row_per_document(prompt_saved, smollm2_path, tmp_path,
                                                    capsys):
    docs = write_reviews(tmp_path / "docs", 3)
    schema = write_schema(tmp_path / "schema.json")
    out = tmp_path / "results.csv"
    status = main(batch_args(smollm2_path, out, docs, extra=("--schema", str(schema),
                                                             "--parallel", "3")))
    err = capsys.readouterr().err
    assert status == 0, err
    assert "3/4 rows" in err or "4/4 rows" in err  # the progress line
    assert "Done: 3 rows, 1 failed" in err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [Path(r["file"]).name for r in rows] == ["broken.bin", "review-00.txt",
                                                    "review-01.txt", "review-02.txt"]
    assert rows[0]["status"] == "failed" and "broken.bin" in rows[0]["reason"]
    for row in rows[1:]:
        assert row["status"] == "done" and row["sentiment"] in ("positive", "negative")
        float(row["stars"])


def test_jsonl_output_carries_each_rows_record(prompt_saved, smollm2_path, tmp_path, capsys):
    docs = write_reviews(tmp_path / "docs", 1, unreadable=False)
    out = tmp_path / "results.jsonl"
    assert main(batch_args(smollm2_path, out, docs / "*.txt", extra=("--max-tokens", "12"))) == 0
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["status"] == "done" and row["columns"]["answer"] == row["answer"]
    record = row["record"]
    assert len(record["model_sha256"]) == 64 and len(record["prompt_sha256"]) == 64
    assert record["seed"] is not None and record["sampling"]["max_tokens"] == 12


def test_a_bad_schema_or_prompt_is_one_error_line(prompt_saved, smollm2_path, tmp_path, capsys):
    docs = write_reviews(tmp_path / "docs", 1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "string", "pattern": "a+"}', encoding="utf-8")
    assert main(batch_args(smollm2_path, tmp_path / "o.csv", docs,
                           extra=("--schema", str(bad)))) == 1
    assert "hearth: error: This schema cannot constrain" in capsys.readouterr().err
    args = batch_args(smollm2_path, tmp_path / "o.csv", docs)
    args[args.index("review")] = "nonesuch"
    assert main(args) == 1
    assert "no saved prompt named 'nonesuch'" in capsys.readouterr().err


def done_rows() -> int:
    try:
        with sqlite3.connect(database_path(), timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM batch_rows WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


def test_killed_mid_batch_then_run_again_resumes(prompt_saved, smollm2_path, tmp_path):
    docs = write_reviews(tmp_path / "docs", 8, unreadable=False)
    out = tmp_path / "results.csv"
    command = [sys.executable, "-m", "app.cli", *batch_args(smollm2_path, out, docs,
                                                              extra=("--parallel", "2"))]
    proc = subprocess.Popen(command, cwd=REPO, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while done_rows() < 2:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no row finished in 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with Store() as store:
        rows = store.conn.execute("SELECT id, status, record FROM batch_rows ORDER BY seq").fetchall()
    before = {row_id: record for row_id, status, record in rows if status == "done"}
    assert 2 <= len(before) < 8  # killed mid-batch, not after it
    again = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"Resuming: {len(before)} of 8 rows already done" in again.stderr
    table = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(table) == 8 and all(r["status"] == "done" for r in table)
    with Store() as store:
        after = dict(store.conn.execute("SELECT id, record FROM batch_rows").fetchall())
    assert all(after[row_id] == record for row_id, record in before.items())  # not redone


def test_a_library_folder_is_a_source_of_documents(prompt_saved, smollm2_path, tmp_path,
                                                    capsys):
    from storage.library.folders import Library
    from storage.library.sync import scan

    docs = write_reviews(tmp_path / "library", 2, unreadable=False)
    with Store() as store:
        scan(store, Library(store).add_folder(docs))
    out = tmp_path / "results.csv"
    assert main(batch_args(smollm2_path, out, extra=("--library", "library",
                                                     "--max-tokens", "8"))) == 0, \
        capsys.readouterr().err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [Path(r["file"]).name for r in rows] == ["review-00.txt", "review-01.txt"]
    assert main(batch_args(smollm2_path, out, extra=("--library", "nonesuch"))) == 1
    assert "No library folder named 'nonesuch'" in capsys.readouterr().err
