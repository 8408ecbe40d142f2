"""Batch runs on real models and a real database: rows, schema, failures, pause and resume."""

from __future__ import annotations

import threading

import pytest
from fixtures.batch import SCHEMA, save_prompt, write_reviews

from app.core import batch
from app.core.batch_run import run_job
from inference.runtime import Engine, LoadOptions
from storage.batches import Batches


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    with Engine(smollm2_path, LoadOptions(n_ctx=512)) as engine:
        yield engine


def make_job(store, engine, folder, schema=SCHEMA, **settings):
    save_prompt(store)
    prompt = store.prompts.by_name("review")
    options = dict(model=str(engine.path), max_tokens=48, n_ctx_per_seq=512, parallel=3)
    spec = batch.make_spec(prompt, {"kind": "review"}, schema,
                           batch.BatchSettings(**{**options, **settings}))
    return batch.create_job(store, spec, batch.expand_sources([folder]))


def test_smollm2_fills_every_column_and_an_unreadable_file_is_a_failed_row(
        store, smollm2, tmp_path):
    job = make_job(store, smollm2, write_reviews(tmp_path / "docs", 4))
    seen = []
    assert run_job(store, smollm2, job.id, model_sha256="abc", on_row=seen.append)
    rows = Batches(store).rows(job.id)
    assert sorted(r.seq for r in seen) == [r.seq for r in rows]  # each row reported once
    broken = next(r for r in rows if r.path.endswith("broken.bin"))
    assert broken.status == "failed" and "broken.bin" in broken.reason
    good = [r for r in rows if r is not broken]
    assert len(good) == 4
    for row in good:
        assert row.status == "done", row.reason
        assert row.columns["sentiment"] in ("positive", "negative")
        assert isinstance(row.columns["stars"], (int, float))
        assert isinstance(row.columns["summary"], str) and len(row.columns["summary"]) <= 40
        record = row.record
        assert record["model_sha256"] == "abc" and record["seed"] is not None
        assert len(record["prompt_sha256"]) == 64 and record["sampling"]["temperature"] == 0
        assert record["shared_prefix_tokens"] > 0  # the prompt's start was evaluated once
    assert Batches(store).get(job.id).status == "done"


def test_without_a_schema_the_answer_is_the_column(store, smollm2, tmp_path):
    job = make_job(store, smollm2, write_reviews(tmp_path / "docs", 2, unreadable=False),
                   schema=None, max_tokens=16)
    assert run_job(store, smollm2, job.id)
    rows = Batches(store).rows(job.id)
    assert all(r.status == "done" and r.columns["answer"] == r.answer != "" for r in rows)
    header, body = batch.table(Batches(store).get(job.id), rows)
    assert header[:3] == ["file", "status", "answer"] and body[0][2] == rows[0].answer


def test_stopped_mid_batch_resumes_without_redoing_finished_rows(store, smollm2, tmp_path):
    job = make_job(store, smollm2, write_reviews(tmp_path / "docs", 5, unreadable=False),
                   parallel=2)
    stop = threading.Event()
    first = []

    def on_row(row):
        first.append(row)
        stop.set()  # pause as soon as one row is written

    assert not run_job(store, smollm2, job.id, stop=stop, on_row=on_row)
    batches = Batches(store)
    assert batches.get(job.id).status == "paused"
    rows = batches.rows(job.id)
    done_before = {r.id: r for r in rows if r.status == "done"}
    assert done_before and not [r for r in rows if r.status == "running"]
    assert [r for r in rows if r.status == "pending"]
    assert run_job(store, smollm2, job.id)
    after = {r.id: r for r in batches.rows(job.id)}
    assert all(r.status == "done" for r in after.values())
    for row_id, row in done_before.items():  # not run again: the same row, to the byte
        assert after[row_id] == row


def test_retry_failed_rows_runs_only_those(store, smollm2, tmp_path):
    folder = write_reviews(tmp_path / "docs", 2)
    job = make_job(store, smollm2, folder)
    assert run_job(store, smollm2, job.id)
    batches = Batches(store)
    (folder / "broken.bin").write_text("Lovely teapot, pours well.", encoding="utf-8")
    kept = {r.id: r for r in batches.rows(job.id, ("done",))}
    assert batches.retry_failed(job.id) == 1
    assert run_job(store, smollm2, job.id)
    rows = batches.rows(job.id)
    assert all(r.status == "done" for r in rows)
    assert all(kept[r.id] == r for r in rows if r.id in kept)


def test_tiny_gpt_oss_batch_with_a_schema_answers_in_the_final_channel(store, tiny_gpt_oss,
                                                                       tmp_path):
    """Random weights: only the grammar makes the answers valid. Without reasoning the
    prompt opens the final channel, and every row validates. (No string column: the random
    model's strings run on past any token limit, and its bytes that are not UTF-8 read back
    as more characters than the grammar counted.)"""
    schema = {"type": "object", "required": ["sentiment", "stars", "spam"],
              "properties": {"sentiment": SCHEMA["properties"]["sentiment"],
                             "stars": {"type": "integer"}, "spam": {"type": "boolean"}}}
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=512)) as engine:
        job = make_job(store, engine, write_reviews(tmp_path / "docs", 3), schema=schema,
                       reasoning=False,
                       max_tokens=200, n_ctx_per_seq=1024)
        assert run_job(store, engine, job.id)
        rows = Batches(store).rows(job.id)
        assert [r.status for r in rows] == ["failed", "done", "done", "done"], rows
        for row in rows[1:]:
            assert row.columns["sentiment"] in ("positive", "negative")
            assert row.record["reasoning"] is False


def test_tiny_gpt_oss_batch_with_reasoning_ends_every_row(store, tiny_gpt_oss, tmp_path):
    """Reasoning first, the grammar only from the final channel on: a random model rarely
    gets there, so rows fail with a reason after their retries, and the batch goes on."""
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=512)) as engine:
        job = make_job(store, engine, write_reviews(tmp_path / "docs", 3, unreadable=False),
                       max_tokens=24, retries=1, n_ctx_per_seq=1024)
        assert run_job(store, engine, job.id)
        rows = Batches(store).rows(job.id)
        assert all(r.status in ("done", "failed") for r in rows)
        assert all(r.reason for r in rows if r.status == "failed")
        assert all(r.attempts == 2 for r in rows if r.status == "failed")


def test_a_file_that_vanished_and_a_folder_are_rows_with_reasons(store, smollm2, tmp_path):
    folder = write_reviews(tmp_path / "docs", 1, unreadable=False)
    gone = tmp_path / "gone.txt"
    save_prompt(store)
    spec = batch.make_spec(store.prompts.by_name("review"), {"kind": "note"}, None,
                           batch.BatchSettings(max_tokens=8, n_ctx_per_seq=512, parallel=2))
    job = batch.create_job(store, spec, batch.expand_sources([folder, gone]))
    assert run_job(store, smollm2, job.id)
    rows = Batches(store).rows(job.id)
    assert rows[0].status == "done"
    assert rows[1].status == "failed" and "does not exist" in rows[1].reason


def test_fixed_variables_are_checked_when_the_job_is_made(store):
    save_prompt(store)
    with pytest.raises(batch.BatchError, match="kind"):
        batch.make_spec(store.prompts.by_name("review"), {}, None, batch.BatchSettings())


def test_a_pattern_that_matches_nothing_is_an_error(tmp_path):
    with pytest.raises(batch.BatchError, match="No file matches"):
        batch.expand_sources([str(tmp_path / "*.pdf")])
