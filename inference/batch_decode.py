"""Several answers at once in one llama.cpp context: continuous batching for batch runs.

A batch run (app/core/batch_run.py) asks the same prompt of many documents. Decoding one
token for one sequence costs nearly as much as decoding one token for eight: the weights are
read once per `llama_decode` either way. So this decoder keeps up to `n_parallel` sequences in
flight in a context of its own (`n_seq_max` > 1, one unified KV cache), and each step decodes
one token for every generating sequence, plus a slice of the next prompts, in a single call.
A sequence that finishes frees its slot, and the next document takes it at once.

The prompt's shared prefix (the template's header, the instructions, the prompt's text up to
the document) is evaluated once into a sequence of its own and copied into each slot with
`llama_memory_seq_cp`; in a unified cache that copy only tags the same cells with one more
sequence id, so it costs nothing and holds the prefix's K/V once.

The context is separate from the chat engine's (same weights, another KV cache), so a chat
turn run between two steps neither disturbs nor is disturbed by the batch. Like the Engine,
a BatchDecoder belongs to the one thread that made it (docs/architecture.md, "Threads").
"""

from __future__ import annotations

import codecs
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import llama_cpp

from .grammar_gate import GrammarGate, GrammarRefusedAll
from .runtime import Engine, ModelLoadError
from .sampling import SamplerChain, Sampling

# gpt-oss: the channel header after which the answer the person reads begins.
_FINAL = "final"


@dataclass(frozen=True)
class SeqJob:
    """One prompt to answer. `tokens`: the whole prompt (the shared prefix included)."""

    key: object
    tokens: tuple[int, ...]
    sampling: Sampling
    max_tokens: int
    # gpt-oss with a schema: the grammar applies from the `final` channel's message on, so
    # the model may reason freely first. None: `sampling.grammar` (if any) applies from the start.
    final_grammar: str | None = None


@dataclass
class SeqResult:
    key: object
    pieces: list[tuple[str, bool]] = field(default_factory=list)  # (text, is_control_token)
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    shared_tokens: int = 0  # of the prompt, copied from the shared prefix (not evaluated)
    finish_reason: str = "stop"  # stop | length | error
    stop_token: str = ""
    error: str | None = None
    seconds: float = 0.0  # from taking a slot to the last token
    ttft_s: float = 0.0
    # With BatchDecoder(record_margins=True): for each token, how far the best logit led the
    # second best (a gap near 0 is a near-tie, which batching's rounding can tip either way).
    margins: list[float] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(text for text, _special in self.pieces)


@dataclass
class _Slot:
    seq: int
    job: SeqJob
    chain: SamplerChain  # without the grammar: the gate checks what it draws
    gate: GrammarGate | None
    result: SeqResult
    pending: list[int]  # prompt tokens not evaluated yet
    pos: int  # the next position in this sequence
    started: float
    next_token: int | None = None  # sampled, to be decoded in the next step
    header: str | None = None  # harmony: the channel header being read, if any
    armed: bool = False
    utf8: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))


class BatchContextError(ModelLoadError):
    """The batch's own context could not be made (not enough memory for that many sequences)."""


class BatchDecoder:
    """Up to `n_parallel` sequences decoding together; `prefix` is shared by (most) prompts.

    Drive it with `step(feed)`: each call takes new jobs from `feed()` (None: none now) into
    free slots, runs one `llama_decode`, samples, and returns the results that finished.
    """

    def __init__(self, engine: Engine, n_parallel: int, n_ctx_per_seq: int,
                 prefix: Sequence[int] = (), n_batch: int = 512,
                 mix_prompts: bool = False, record_margins: bool = False) -> None:
        if n_parallel < 1:
            raise ValueError("n_parallel must be at least 1")
        self.engine = engine
        self.n_parallel = n_parallel
        self.n_ctx_per_seq = n_ctx_per_seq
        self.prefix = list(prefix)
        # False: a prompt is evaluated in calls of its own, never beside other sequences'
        # tokens. llama.cpp's CPU arithmetic is not batch-invariant: a prompt evaluated in the
        # same ubatch as other sequences' tokens came out different in the last bits, enough to
        # change a greedy answer now and then; with this, each answer is the one a sequential
        # run gives (tests/test_batch_decode.py), at the cost of some steps without generation.
        self.mix_prompts = mix_prompts
        self.record_margins = record_margins
        self._prefix_seq = n_parallel  # slots are 0..n_parallel-1
        self._ctx = None
        self._batch = None
        self._slots: dict[int, _Slot] = {}
        self._free = list(range(n_parallel))
        self.generated = 0  # tokens sampled so far, every sequence together (for tokens/s)
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = len(self.prefix) + n_parallel * n_ctx_per_seq
        cparams.n_batch = cparams.n_ubatch = self.n_batch = n_batch
        cparams.n_seq_max = n_parallel + 1
        cparams.kv_unified = True
        cores = os.cpu_count() or 1
        threads = engine.options.n_threads
        cparams.n_threads = self._gen_threads = threads or max(1, cores - 1)
        cparams.n_threads_batch = self._prompt_threads = threads or cores
        self._threads_now = (cparams.n_threads, cparams.n_threads_batch)
        cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO if engine.options.flash_attn
                                   else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        cparams.swa_full = engine.options.swa_full
        cparams.no_perf = True
        # The engine's model and vocabulary: the weights are shared, not loaded again.
        self._ctx = llama_cpp.llama_init_from_model(engine._model, cparams)
        if not self._ctx:
            raise BatchContextError(
                f"llama.cpp could not make a context for {n_parallel} parallel sequences of "
                f"{n_ctx_per_seq:,} tokens (not enough memory?): try fewer.")
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        try:
            self._eval_prefix()
        except BaseException:
            self.close()
            raise

    # -- the shared prefix ----------------------------------------------------------------

    def _eval_prefix(self) -> None:
        for i in range(0, len(self.prefix), self.n_batch):
            chunk = self.prefix[i:i + self.n_batch]
            self._fill([(t, i + j, self._prefix_seq, False) for j, t in enumerate(chunk)])
            rc = llama_cpp.llama_decode(self._ctx, self._batch)
            if rc != 0:
                raise BatchContextError(f"llama.cpp could not evaluate the shared prompt ({rc}).")

    # -- stepping -------------------------------------------------------------------------

    @property
    def active(self) -> int:
        return len(self._slots)

    @property
    def has_room(self) -> bool:
        return bool(self._free)

    def _start(self, job: SeqJob) -> _Slot | SeqResult:
        result = SeqResult(job.key, prompt_tokens=len(job.tokens))
        if not job.tokens:
            result.finish_reason, result.error = "error", "The prompt is empty."
            return result
        if len(job.tokens) + 1 > self.n_ctx_per_seq:
            result.finish_reason = "error"
            result.error = (f"The prompt needs {len(job.tokens):,} tokens; each of the batch's "
                            f"sequences holds {self.n_ctx_per_seq:,}.")
            return result
        gate = None
        try:
            if job.sampling.grammar and job.final_grammar is None:
                gate = self._gate(job.sampling.grammar)
            chain = SamplerChain(replace(job.sampling, grammar=None), self.engine._vocab)
        except ValueError as exc:
            if gate is not None:
                gate.free()
            result.finish_reason, result.error = "error", str(exc)
            return result
        seq = self._free.pop(0)
        llama_cpp.llama_memory_seq_rm(self._memory, seq, -1, -1)
        common = 0
        for a, b in zip(self.prefix, job.tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(job.tokens) - 1)  # the last prompt token gives the logits
        if common > 0:
            llama_cpp.llama_memory_seq_cp(self._memory, self._prefix_seq, seq, 0, common)
        result.shared_tokens = common
        slot = _Slot(seq, job, chain, gate, result, list(job.tokens[common:]), common,
                     time.perf_counter())
        self._slots[seq] = slot
        return slot

    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        b = self._batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            b.token[i] = token
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = logits
        b.n_tokens = len(entries)

    def step(self, feed: Callable[[], SeqJob | None]) -> list[SeqResult]:
        """Fill free slots from `feed`, decode once, sample; return the finished results."""
        finished: list[SeqResult] = []
        while self._free:
            job = feed()
            if job is None:
                break
            started = self._start(job)
            if isinstance(started, SeqResult):
                finished.append(started)
        if not self._slots:
            return finished
        entries: list[tuple[int, int, int, bool]] = []
        owners: list[_Slot] = []  # the slot whose logits each entry asks for
        prompting = next((s for s in self._slots.values() if s.pending), None)
        if prompting is not None and not self.mix_prompts:
            self._add_prompt(prompting, entries, owners, self.n_batch)
        else:
            self._add_all(entries, owners)
        return self._decode(entries, owners, finished)

    def _add_prompt(self, slot: _Slot, entries: list, owners: list, room: int) -> int:
        take = slot.pending[:room]
        last = len(take) == len(slot.pending)
        for j, token in enumerate(take):
            is_last = last and j == len(take) - 1
            entries.append((token, slot.pos + j, slot.seq, is_last))
            owners.append(slot if is_last else None)
        return len(take)

    def _add_all(self, entries: list, owners: list) -> None:
        for slot in self._slots.values():  # generating sequences: one token each, first
            if slot.next_token is not None:
                entries.append((slot.next_token, slot.pos, slot.seq, True))
                owners.append(slot)
        room = self.n_batch - len(entries)
        for slot in self._slots.values():  # then slices of the prompts waiting
            if slot.next_token is not None or not slot.pending or room <= 0:
                continue
            room -= self._add_prompt(slot, entries, owners, room)

    def _use_threads(self, prompting: bool) -> None:
        """llama.cpp decodes any call of more than one token with its batch thread count.
        A generation step of 4 sequences is 4 tokens, but it should run like one token: on all
        cores, each thread spinning at the barriers between graph nodes, a loaded 2-core
        machine made such steps 4 times slower than one sequence alone (bench_batch.py)."""
        wanted = ((self._gen_threads, self._prompt_threads) if prompting
                  else (self._gen_threads, self._gen_threads))
        if wanted != self._threads_now:
            llama_cpp.llama_set_n_threads(self._ctx, *wanted)
            self._threads_now = wanted

    def _decode(self, entries: list, owners: list, finished: list[SeqResult]) -> list[SeqResult]:
        self._use_threads(len(entries) > len(self._slots))
        self._fill(entries)
        rc = llama_cpp.llama_decode(self._ctx, self._batch)
        if rc != 0:
            # What this call did to the cache is unknown: end every sequence in it with a reason.
            why = ("The batch's context is full." if rc == 1
                   else f"llama.cpp failed to decode ({rc}).")
            for seq in list(self._slots):
                finished.append(self._finish(self._slots[seq], "error", why))
            return finished
        # Positions advance for every entry decoded.
        taken: dict[int, int] = {}
        for _token, _pos, seq, _logits in entries:
            taken[seq] = taken.get(seq, 0) + 1
        for seq, n in taken.items():
            slot = self._slots[seq]
            slot.pos += n
            if slot.next_token is not None:
                slot.next_token = None
            else:
                del slot.pending[:n]
        for index, slot in enumerate(owners):
            if slot is None:
                continue
            done = self._sample(slot, index)
            if done is not None:
                finished.append(done)
        return finished

    def _gate(self, grammar: str) -> GrammarGate:
        return GrammarGate(grammar, self.engine._vocab, self.engine.n_vocab)

    def _margin(self, index: int) -> float:
        import numpy as np

        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, index),
                                       shape=(self.engine.n_vocab,))
        top = np.partition(logits, -2)[-2:]
        return float(top[1] - top[0])

    def _sample(self, slot: _Slot, index: int) -> SeqResult | None:
        if self.record_margins:
            slot.result.margins.append(self._margin(index))
        token = llama_cpp.llama_sampler_sample(slot.chain.ptr, self._ctx, index)
        if slot.gate is not None:
            if not slot.gate.allows(token):
                try:
                    token = slot.gate.constrained(self._ctx, index, slot.chain.ptr)
                except GrammarRefusedAll as exc:
                    return self._finish(slot, "error", str(exc))
            slot.gate.accept(token)
        result = slot.result
        now = time.perf_counter()
        if not result.tokens and not result.ttft_s:
            result.ttft_s = now - slot.started
        engine = self.engine
        if engine.is_eog(token):
            result.stop_token = engine.piece(token)[0].decode("utf-8", errors="replace")
            return self._finish(slot, "stop")
        result.tokens.append(token)
        self.generated += 1
        raw, special = engine.piece(token)
        if special:
            tail = slot.utf8.decode(b"", final=True)
            slot.utf8.reset()
            if tail:
                result.pieces.append((tail, False))
            text = raw.decode("utf-8", errors="replace")
            result.pieces.append((text, True))
            self._watch_header(slot, text)
        else:
            text = slot.utf8.decode(raw)
            if text:
                result.pieces.append((text, False))
                if slot.header is not None:
                    slot.header += text
        if len(result.tokens) >= slot.job.max_tokens or slot.pos >= self.n_ctx_per_seq:
            return self._finish(slot, "length")
        slot.next_token = token
        return None

    def _watch_header(self, slot: _Slot, marker: str) -> None:
        """gpt-oss: switch the grammar on once the `final` channel's message begins."""
        if slot.job.final_grammar is None or slot.armed:
            return
        if marker == "<|channel|>":
            slot.header = ""
        elif marker == "<|message|>" and slot.header is not None:
            if slot.header.strip().split()[:1] == [_FINAL]:
                slot.gate = self._gate(slot.job.final_grammar)
                slot.armed = True
            slot.header = None
        elif marker in ("<|start|>", "<|end|>"):
            slot.header = None

    def _finish(self, slot: _Slot, reason: str, error: str | None = None) -> SeqResult:
        tail = slot.utf8.decode(b"", final=True)
        if tail:
            slot.result.pieces.append((tail, False))
        result = slot.result
        result.finish_reason = reason
        result.error = error
        result.seconds = time.perf_counter() - slot.started
        self._release(slot)
        return result

    def _release(self, slot: _Slot) -> None:
        slot.chain.free()
        if slot.gate is not None:
            slot.gate.free()
        llama_cpp.llama_memory_seq_rm(self._memory, slot.seq, -1, -1)
        del self._slots[slot.seq]
        self._free.append(slot.seq)
        self._free.sort()

    def abandon(self) -> list[object]:
        """Drop every sequence in flight (a pause): their keys, to be asked again later."""
        keys = [slot.job.key for slot in self._slots.values()]
        for slot in list(self._slots.values()):
            self._release(slot)
        return keys

    def close(self) -> None:
        for slot in list(self._slots.values()):
            slot.chain.free()
            if slot.gate is not None:
                slot.gate.free()
        self._slots.clear()
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None

    def __enter__(self) -> BatchDecoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
