"""Running a batch job on the engine's thread: documents in, rows out, resumable at any point.

`BatchRun(store, engine, job_id)` is made on the engine's thread and used only there. Each
`run(...)` call steps the parallel decoder (inference/batch_decode.py) until the job is done,
the stop event is set, or its time slice is over; the window runs it in slices of a fraction of
a second so that a chat turn submitted meanwhile runs between two slices, on the same thread,
in the engine's own context, while the batch's sequences wait in theirs (docs/batch.md).

Every row is written as it finishes, in its own transaction; a row is `running` only while
its sequence is in flight, so a kill leaves at most those, and the next run starts them over.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from common.errors import UserError
from inference.batch_decode import BatchDecoder, SeqJob, SeqResult
from inference.events import AnswerDelta, ReasoningDelta
from inference.harmony import parser_for
from inference.sampling import Sampling
from inference.structured import SchemaError, check_grammar, grammar_for_schema
from storage import Store
from storage.batches import Batches, Row

from .batch import BatchError, settings_of
from .batch_prompt import Prepared, PromptBuilder, prompt_sha256
from .batch_schema import validate_answer

RETRY_TEMPERATURE = 0.7  # a greedy answer that failed would fail the same way again


def default_parallel(engine) -> int:
    """Sequences in flight when the job does not say: measured (docs/performance.md, "Batch
    runs"): on a CPU, 4 already gives most of the gain; a GPU keeps gaining up to 16 and beyond."""
    fit = getattr(engine, "fit", None)
    on_gpu = bool(fit and getattr(fit, "n_gpu_layers", 0))
    return 16 if on_gpu else 4


@dataclass
class Progress:
    done: int = 0
    failed: int = 0
    total: int = 0
    tokens_per_s: float = 0.0  # generated tokens per second in this run, all sequences together
    seconds_left: float | None = None
    running: tuple[int, ...] = ()  # the seq of each row being decoded now

    @property
    def finished(self) -> int:
        return self.done + self.failed


@dataclass
class _Flight:
    row: Row
    prepared: Prepared
    attempt: int
    sampling: Sampling
    log: list[str] = field(default_factory=list)


class BatchRun:
    def __init__(self, store: Store, engine, job_id: int, *, model_sha256: str | None = None,
                 parallel: int | None = None) -> None:
        if not hasattr(engine, "_model"):
            raise BatchError("Batch runs need a model loaded in Hearth (not a remote one).")
        self.store = store
        self.engine = engine
        self.batches = Batches(store)
        job = self.batches.get(job_id)
        if job is None:
            raise BatchError(f"No batch {job_id}.")
        self.job = job
        self.settings = settings_of(job.spec)
        self.schema = job.spec.get("schema")
        self.model_sha256 = model_sha256
        self.grammar = None
        if self.schema:
            self.grammar = grammar_for_schema(self.schema)
            check_grammar(engine, self.grammar)  # llama.cpp's parser, before any decode
        self.builder = PromptBuilder(store, engine, job.spec)
        self.batches.recover(job_id)
        self._queue = [r for r in self.batches.rows(job_id, ("pending",))]
        self._queue.reverse()  # popped from the end: in the job's order
        self._retry: list[_Flight] = []
        self._flights: dict[int, _Flight] = {}
        self.parallel = parallel or self.settings.parallel or default_parallel(engine)
        self.decoder = BatchDecoder(engine, self.parallel, self.settings.n_ctx_per_seq,
                                    self.builder.shared_prefix())
        self._started = time.perf_counter()
        self._finished_here = 0
        self._refused: list[Row] = []  # documents failed before generation, not reported yet

    # -- feeding --------------------------------------------------------------------------

    def _sampling(self, row: Row, attempt: int) -> Sampling:
        s = self.settings
        temperature = self.builder.prompt.temperature if self.builder.prompt.temperature is not None \
            else s.temperature
        if attempt > 0 and temperature <= 0:
            temperature = RETRY_TEMPERATURE
        grammar = self.grammar if (self.grammar and not self._grammar_after_final) else None
        return Sampling(temperature=temperature, top_p=s.top_p, top_k=s.top_k, min_p=s.min_p,
                        seed=(s.seed or 0) + row.seq + 1_000_003 * attempt,
                        grammar=grammar, max_tokens=s.max_tokens)

    @property
    def _grammar_after_final(self) -> bool:
        return self.builder.harmony and not self.builder.prefill

    def _job_for(self, flight: _Flight) -> SeqJob:
        return SeqJob(flight.row.id, flight.prepared.tokens, flight.sampling,
                      self.settings.max_tokens,
                      final_grammar=self.grammar if self._grammar_after_final else None)

    def _feed(self) -> SeqJob | None:
        if self._retry:
            flight = self._retry.pop()
            self._flights[flight.row.id] = flight
            return self._job_for(flight)
        while self._queue:
            row = self._queue.pop()
            try:
                prepared = self.builder.prepare(row.path)
            except UserError as exc:
                self._fail(row, str(exc), attempts=0)
                continue
            flight = _Flight(row, prepared, row.attempts, self._sampling(row, row.attempts))
            self.batches.claim(row.id)
            self._flights[row.id] = flight
            return self._job_for(flight)
        return None

    # -- running --------------------------------------------------------------------------

    @property
    def remaining(self) -> bool:
        return bool(self._queue or self._retry or self._flights)

    def run(self, stop: threading.Event | None = None, *, slice_s: float | None = None,
            on_row: Callable[[Row], None] | None = None) -> bool:
        """Step until the job is done (True), `stop` is set, or `slice_s` has passed (False:
        call again). Rows still in flight when `stop` is set go back to pending."""
        self.batches.set_status(self.job.id, "running")
        until = None if slice_s is None else time.perf_counter() + slice_s
        while self.remaining:
            if stop is not None and stop.is_set():
                self.pause()
                return False
            finished = [self._finish(result) for result in self.decoder.step(self._feed)]
            finished += self._refused
            self._refused = []
            for row in finished:
                if row is not None and on_row is not None:
                    on_row(row)
            if until is not None and time.perf_counter() >= until:
                return not self.remaining
        self.batches.set_status(self.job.id, "done")
        return True

    def pause(self, status: str = "paused") -> None:
        """Drop the sequences in flight (their rows pending again) and mark the job."""
        dropped = self.decoder.abandon()
        for key in dropped:
            flight = self._flights.pop(key, None)
            if flight is not None:
                self._queue.append(self.batches.row(flight.row.id) or flight.row)
        self.batches.release(dropped)
        self.batches.set_status(self.job.id, status)

    def progress(self) -> Progress:
        counts = self.batches.counts(self.job.id)
        elapsed = max(1e-6, time.perf_counter() - self._started)
        left = counts.pending + counts.running
        eta = None
        if self._finished_here:
            eta = left * elapsed / self._finished_here
        running = tuple(sorted({f.row.seq for f in [*self._flights.values(), *self._retry]}))
        return Progress(counts.done, counts.failed, counts.total, self.decoder.generated / elapsed,
                        eta, running)

    def close(self) -> None:
        if self._flights:
            self.pause()
        self.decoder.close()

    # -- results --------------------------------------------------------------------------

    def _finish(self, result: SeqResult) -> Row | None:
        flight = self._flights.pop(result.key, None)
        if flight is None:  # an empty prompt refused before it had a flight: cannot happen
            return None
        parser = parser_for(self.engine.template.source, flight.prepared.text)
        answer, reasoning = [], []
        for text, special in result.pieces:
            for event in parser.feed(text, special):
                if isinstance(event, AnswerDelta):
                    answer.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    reasoning.append(event.text)
        for event in parser.finish(result.stop_token):
            if isinstance(event, AnswerDelta):
                answer.append(event.text)
        text = "".join(answer).strip()
        attempts = flight.attempt + 1
        problem = result.error
        columns: dict = {}
        if problem is None and self.schema:
            try:
                columns = validate_answer(text, self.schema)
            except SchemaError as exc:
                problem = f"The answer does not fit the schema: {exc}"
                if result.finish_reason == "length":
                    problem = f"The answer was cut off at {self.settings.max_tokens:,} tokens."
        elif problem is None:
            if not text:
                problem = ("The model gave no answer" + (
                    f" within {self.settings.max_tokens:,} tokens." if result.finish_reason ==
                    "length" else "."))
            columns = {"answer": text}
        record = self._record(flight, result)
        if problem is not None and result.error is None and attempts <= self.settings.retries:
            retry = _Flight(flight.row, flight.prepared, attempts,
                            self._sampling(flight.row, attempts), flight.log + [problem])
            self._retry.append(retry)
            return None
        self._finished_here += 1
        stats = dict(attempts=attempts, prompt_tokens=result.prompt_tokens,
                     generated_tokens=len(result.tokens), seconds=result.seconds, record=record,
                     answer=text, reasoning="".join(reasoning))
        if problem is None:
            self.batches.finish(flight.row.id, status="done", columns=columns, **stats)
        else:
            self.batches.finish(flight.row.id, status="failed", reason=problem, **stats)
        return self.batches.row(flight.row.id)

    def _fail(self, row: Row, reason: str, attempts: int) -> None:
        self._finished_here += 1
        self.batches.finish(row.id, status="failed", reason=reason, attempts=attempts,
                            record={"model": self.engine.name, "model_sha256": self.model_sha256})
        self._refused.append(self.batches.row(row.id))

    def _record(self, flight: _Flight, result: SeqResult) -> dict:
        """How the row was made, enough to make it again (cf. app/core/provenance.py)."""
        sampling = asdict(replace(flight.sampling, grammar=None))
        return {
            "model": self.engine.name,
            "model_path": self.settings.model or str(getattr(self.engine, "path", "")),
            "model_sha256": self.model_sha256,
            "sampling": sampling,
            "seed": flight.sampling.seed,
            "grammar_sha256": prompt_sha256(self.grammar) if self.grammar else None,
            "prompt_sha256": prompt_sha256(flight.prepared.text),
            "prompt_tokens": result.prompt_tokens,
            "shared_prefix_tokens": result.shared_tokens,
            "document_sha256": flight.prepared.document_sha256,
            "document": flight.prepared.document_mode,
            "effort": self.builder.prompt.effort or self.settings.effort,
            "reasoning": self.settings.reasoning,
            "date": self.job.spec.get("date"),
            "finish_reason": result.finish_reason,
            "stop_token": result.stop_token,
            "ttft_s": round(result.ttft_s, 4),
            "earlier_attempts": flight.log,
        }


def run_job(store: Store, engine, job_id: int, *, stop: threading.Event | None = None,
            model_sha256: str | None = None, parallel: int | None = None,
            on_row: Callable[[Row], None] | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            progress_every_s: float = 0.5) -> bool:
    """Run the job to its end or until `stop` (then its status is `paused`): True when done."""
    run = BatchRun(store, engine, job_id, model_sha256=model_sha256, parallel=parallel)
    try:
        while True:
            finished = run.run(stop, slice_s=progress_every_s, on_row=on_row)
            if on_progress is not None:
                on_progress(run.progress())
            if finished or (stop is not None and stop.is_set()):
                return finished
    finally:
        run.close()
