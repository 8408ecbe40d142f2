"""The engine: one loaded GGUF, its context, and a token loop that streams typed events.

We drive llama.cpp's C API (through llama-cpp-python's ctypes bindings) rather than the
`Llama` class: `create_completion` re-detokenizes the whole answer on every token, and `Llama`
allocates an n_batch × n_vocab logits array (412 MB for gpt-oss's 201k vocabulary) it never
needs when sampling happens inside llama.cpp.

Not thread-safe: exactly one thread owns an Engine (docs/architecture.md, "Threads"). Other threads may
only set the `cancel` event they passed in.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import llama_cpp  # before numpy: the CUDA build has been seen to crash at load otherwise

from common.errors import UserError

from . import llama_log
from .chat_format import Message, RenderCancelled, model_template
from .context import check_prompt_length, template_messages, template_tools
from .events import Done, Event, GenerationStats
from .gguf_file import ModelFileError, check_model, split_parts
from .harmony import parser_for
from .harmony_render import Prompt, render_harmony
from common.text import display_name
from .prompt_tokens import PromptTokenizer, bounded_pieces, tokenize_plain
from .models.fit import Fit, ModelShape, Verdict, estimate
from .models.hardware import probe
from .sampling import GPT_OSS_DEFAULT, SamplerChain, Sampling
from .speculative import SpeculativeOptions, Speculator, VerifyBatch

_backend_ready = False
_PROMPT_BATCH = 512  # tokens per prompt batch on a CPU, or where a GPU has no room for more
_PROMPT_BATCH_GPU = 2048
_VERDICTS = [Verdict.FITS, Verdict.TIGHT, Verdict.WONT_FIT]
_backend_lock = threading.Lock()


class ModelLoadError(UserError):
    """The file cannot be used as a model. The message is meant for the user."""


class ModelTooLargeError(ModelLoadError):
    """Loading would push the machine into swap. `fit` says why; LoadOptions.allow_swap overrides."""

    def __init__(self, message: str, fit: Fit) -> None:
        super().__init__(message)
        self.fit = fit


class LoadCancelled(ModelLoadError):
    pass


class ContextFullError(UserError):
    """The prompt alone does not fit the context window."""


@dataclass(frozen=True)
class LoadOptions:  # noqa: D101 - each field says what it is
    n_ctx: int = 16384
    # None: as many layers as the GPU has room for (inference/models/fit.py); -1: all of them.
    n_gpu_layers: int | None = None
    allow_swap: bool = False  # load even when the fit estimate says it will not fit in memory
    flash_attn: bool = True  # on where the backend has it (llama.cpp's "auto")
    # None: all cores but one. llama.cpp's CPU threads spin between graph nodes, so a busy GUI
    # thread on a fully booked machine stalls every token (seen here: 147 → 22 tokens/s on 2 cores).
    n_threads: int | None = None
    # Tokens per prompt batch (and micro-batch). None: by backend and memory (_PROMPT_BATCHES).
    n_batch: int | None = None
    # A full-size cache for the sliding-window layers: prefix reuse can then rewind anywhere
    # without leaving a hole (with swa_full off, a rewind past the window silently diverges).
    swa_full: bool = True
    backend_sampling: bool = True  # run the sampler chain on the device when it can
    # Prompt-lookup drafts verified in one batch (inference/speculative.py); None: off.
    speculative: SpeculativeOptions | None = SpeculativeOptions()
    vocab_only: bool = False  # tokenizer and template only: no weights, no context (fast)


@dataclass(frozen=True)
class Piece:
    """One generated token as text. `special`: a control token (a harmony marker, say)."""

    token: int
    text: str
    special: bool


def _ensure_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_log.install()
            llama_cpp.llama_backend_init()
            _backend_ready = True


def _refuse_non_models(info) -> None:
    """GGUF files that are not chat models, named plainly before llama.cpp sees them."""
    kind = str(info.metadata.get("general.type") or "")
    name = display_name(info.path)
    if kind == "adapter":
        raise ModelLoadError(f"{name} is a LoRA adapter, not a model: it changes a model it was "
                             "trained for and cannot run alone.")
    if kind == "mmproj" or info.architecture == "clip":
        raise ModelLoadError(f"{name} is a vision projector (mmproj) that belongs beside a "
                             "model, not a model itself.")
    if info.tensor_count == 0 and len(split_parts(info.path)) == 1:
        raise ModelLoadError(f"{name} holds only a tokenizer, no weights: it is not a model.")


class Engine:
    """A loaded model and its context. Construct on the thread that will use it."""

    def __init__(self, path: str | os.PathLike, options: LoadOptions = LoadOptions(),
                 on_progress=None) -> None:
        """`on_progress(fraction)` is called while weights load; returning False cancels."""
        self.path = Path(os.fsdecode(path))  # bytes too: a name that is not UTF-8
        self.options = options
        try:
            # Refuses non-GGUF and truncated files (every part of a split model) before llama.cpp.
            self.info = check_model(self.path)
        except ModelFileError as exc:
            raise ModelLoadError(str(exc)) from exc
        self.fit: Fit | None = None
        self._n_batch = options.n_batch or _PROMPT_BATCH
        if not options.vocab_only:
            _refuse_non_models(self.info)
            self.fit = self._plan_memory()
        self._on_progress = on_progress
        _ensure_backend()
        self._model = None
        self._ctx = None
        self._chain: SamplerChain | None = None
        self._chain_on_backend = False
        self._cached: list[int] = []  # tokens whose K/V sit in the cache, positions 0..n-1
        self._pieces: dict[int, tuple[bytes, bool]] = {}
        self._verify: VerifyBatch | None = None
        self.speculator_factory = Speculator  # (prompt, options) -> Speculator; benchmarks swap it
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # -- loading ------------------------------------------------------------------------------

    def _plan_memory(self) -> Fit:
        shape = ModelShape.from_gguf(self.info)
        trained = self.info.context_length
        n_ctx = min(self.options.n_ctx, trained) if trained > 0 else self.options.n_ctx
        layers = self.options.n_gpu_layers
        machine = probe()

        def fit_at(n_batch: int) -> Fit:
            return estimate(shape, n_ctx, machine, n_ubatch=n_batch, swa_full=self.options.swa_full,
                            gpu_layers=None if layers is None else shape.n_layers if layers < 0 else layers)

        self._n_batch = self.options.n_batch or _PROMPT_BATCH
        fit = fit_at(self._n_batch)
        if self.options.n_batch is None and machine.backend != "cpu":
            # A bigger micro-batch reads the weights fewer times per prompt (llama-bench on an
            # H200: 9.3k tokens/s at 512, 13.1k at 2048, for a 32k prompt) but its compute
            # buffer grows with it (2 GB at 2048 for a 201k vocabulary): only where the fit
            # estimate still puts as many layers on the GPU and leaves the verdict as good.
            big = fit_at(_PROMPT_BATCH_GPU)
            no_worse = _VERDICTS.index(big.verdict) <= _VERDICTS.index(fit.verdict)
            if fit.gpu_layers > 0 and big.gpu_layers >= fit.gpu_layers and no_worse:
                self._n_batch, fit = _PROMPT_BATCH_GPU, big
        if fit.verdict is Verdict.WONT_FIT and not self.options.allow_swap:
            raise ModelTooLargeError(fit.reason, fit)
        return fit

    def _load(self) -> None:
        llama_log.take_recent_errors()
        mparams = llama_cpp.llama_model_default_params()
        layers = self.options.n_gpu_layers
        if layers is None:
            layers = self.fit.n_gpu_layers if self.fit else -1
        mparams.n_gpu_layers = 0x7FFFFFFF if layers < 0 else layers
        mparams.vocab_only = self.options.vocab_only
        cancelled = False
        if self._on_progress is not None:
            def progress(fraction: float, _user_data) -> bool:
                nonlocal cancelled
                try:
                    cancelled = self._on_progress(fraction) is False
                except Exception:  # noqa: BLE001 - a broken callback must not abort a C call
                    cancelled = False
                return not cancelled

            # Kept on self: llama.cpp calls it during the load, after this frame's locals could go.
            self._progress_cb = llama_cpp.llama_progress_callback(progress)
            mparams.progress_callback = self._progress_cb
        self._model = llama_cpp.llama_model_load_from_file(os.fsencode(self.path), mparams)
        self._progress_cb = None
        if not self._model:
            if cancelled:
                raise LoadCancelled("Loading was cancelled.")
            raise ModelLoadError(self._failure("llama.cpp could not load this model"))
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train = llama_cpp.llama_model_n_ctx_train(self._model)
        self.name = self.meta("general.name") or self.path.stem
        # template_warning: why the model's own template is not used (broken or hostile), or None.
        self.template, self.template_warning = model_template(
            self.meta("tokenizer.chat_template"),
            bos_token=self._special_text(llama_cpp.llama_vocab_bos(self._vocab)),
            eos_token=self._special_text(llama_cpp.llama_vocab_eos(self._vocab)))
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self._refuse_missing_special_tokens()
        # Where messages start in this model's rendered chats, if it marks them with a control
        # token (harmony's <|start|>, ChatML's <|im_start|>): tokenize() caches per message.
        self._message_marker = next((m for m in ("<|start|>", "<|im_start|>")
                                     if m in self.template.source), None)
        self._piece_tokens: dict = {}
        bos = llama_cpp.llama_vocab_bos(self._vocab)
        self._prompt_tokens = PromptTokenizer(self._tokenize, bos if bos >= 0 else None)
        self.n_ctx = self.n_batch = 0
        if self.options.vocab_only:
            return

        cparams = llama_cpp.llama_context_default_params()
        n_ctx = min(self.options.n_ctx, self.n_ctx_train) if self.n_ctx_train > 0 else self.options.n_ctx
        cores = os.cpu_count() or 1
        cparams.n_ctx = n_ctx
        cparams.n_batch = cparams.n_ubatch = min(self._n_batch, n_ctx)
        cparams.n_seq_max = 1
        cparams.n_threads = self.options.n_threads or max(1, cores - 1)
        cparams.n_threads_batch = self.options.n_threads or cores  # prompt batches: every core
        cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO if self.options.flash_attn
                                   else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        cparams.swa_full = self.options.swa_full
        # The backend sampler may sample every position of a batch (a draft's check); with the
        # default of 1 it refuses such batches, and it keeps its random draws for the kept ones.
        cparams.n_outputs_max_per_seq = cparams.n_batch
        cparams.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            raise ModelLoadError(self._failure(
                f"llama.cpp could not create a {n_ctx:,}-token context (not enough memory?)"))
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.n_batch = cparams.n_batch
        # A recurrent state cannot be rewound by a few tokens: no drafts to take back there.
        self._can_speculate = not (llama_cpp.llama_model_is_recurrent(self._model)
                                   or llama_cpp.llama_model_is_hybrid(self._model))

    def _refuse_missing_special_tokens(self) -> None:
        """A vocabulary set to add a start (or end, or separator) token it does not have makes
        llama-vocab.cpp's tokenizer GGML_ASSERT on the first text: refuse it at load if it adds
        them by default, else never ask llama.cpp to add them (llama_vocab::impl::tokenize)."""
        vocab, kind = self._vocab, llama_cpp.llama_vocab_type(self._vocab)
        needed = {}
        if kind == llama_cpp.LLAMA_VOCAB_TYPE_WPM:
            needed = {"start-of-text": llama_cpp.llama_vocab_bos(vocab),
                      "separator": llama_cpp.llama_vocab_sep(vocab)}
        elif kind in (llama_cpp.LLAMA_VOCAB_TYPE_SPM, llama_cpp.LLAMA_VOCAB_TYPE_BPE,
                      llama_cpp.LLAMA_VOCAB_TYPE_UGM):
            if self._add_bos:
                needed["start-of-text"] = llama_cpp.llama_vocab_bos(vocab)
            if llama_cpp.llama_vocab_get_add_eos(vocab):
                needed["end-of-text"] = llama_cpp.llama_vocab_eos(vocab)
        missing = [what for what, token in needed.items() if token == llama_cpp.LLAMA_TOKEN_NULL]
        self._can_add_special = not missing
        if missing and self._add_bos:
            raise ModelLoadError(f"{display_name(self.path)} cannot be used: its tokenizer is set "
                                 f"to add a {missing[0]} token that its vocabulary does not have.")

    @staticmethod
    def _failure(summary: str) -> str:
        # llama.cpp logs the reason first ("error loading model: … tensor 'x' not found") and a
        # generic "failed to load model" last: prefer the reason.
        errors = llama_log.take_recent_errors()
        for line in errors:
            if "error loading model: " in line:
                return f"{summary}: {line.split('error loading model: ', 1)[1]}"
        return f"{summary}: {errors[0]}" if errors else f"{summary}."

    def meta(self, key: str) -> str | None:
        size = 1 << 16 if key == "tokenizer.chat_template" else 1024
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    def close(self) -> None:
        """Free the context and the model. Idempotent."""
        if self._chain is not None:
            if self._chain_on_backend and self._ctx:
                llama_cpp.llama_set_sampler(self._ctx, 0, None)
            self._chain.free()
            self._chain = None
        if self._verify is not None:
            self._verify.free()
            self._verify = None
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- tokens -------------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = True, add_bos: bool | None = None) -> list[int]:
        """Text to tokens. `special`: parse control-token text such as `<|start|>` as tokens;
        False: every character stays text (inference/prompt_tokens.py says why that takes more
        than llama.cpp's own flag). A rendered harmony Prompt is tokenized by its segments:
        its markers become control tokens, everything else is text.

        A rendered chat is tokenized message by message, each message's tokens cached: a
        follow-up turn re-tokenizes only its new messages. llama.cpp compiles its splitting
        regex again for every stretch between special tokens (about 0.45 ms each), which made
        an 8k-token gpt-oss history cost 58 ms to tokenize on every turn. Special tokens are
        matched whole, so cutting just before a message-start marker gives the same tokens.
        """
        add = (self._add_bos if add_bos is None else add_bos) and self._can_add_special
        if not special:
            return tokenize_plain(self._tokenize, text, add)
        if isinstance(text, Prompt):
            return self._prompt_tokens(text, add)
        marker = self._message_marker
        if marker is None or len(text) < 4096 or text.count(marker) < 2:
            return self._tokenize(text, special, add)
        cut = text.split(marker)
        pieces = [cut[0]] + [marker + rest for rest in cut[1:]]
        tokens: list[int] = []
        for i, piece in enumerate(p for p in pieces if p):
            tokens += self._tokenize_piece(piece, add and i == 0)
        return tokens

    def _tokenize_piece(self, piece: str, add_bos: bool) -> list[int]:
        key = (piece, add_bos)
        cached = self._piece_tokens.get(key)
        if cached is None:
            cached = self._piece_tokens[key] = tuple(self._tokenize(piece, True, add_bos))
            if len(self._piece_tokens) > 4096:  # forget the oldest (dicts keep insertion order)
                del self._piece_tokens[next(iter(self._piece_tokens))]
        return list(cached)

    def _tokenize(self, text: str, special: bool, add: bool) -> list[int]:
        pieces = bounded_pieces(text, special)
        if len(pieces) > 1:  # a long run of one kind of character (see prompt_tokens.py)
            tokens: list[int] = []
            for i, piece in enumerate(pieces):
                tokens += self._tokenize(piece, special, add and i == 0)
            return tokens
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, add, special)
        if n < 0:
            n_max = -n
            buf = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, add, special)
        tokens = list(buf[:n])
        if tokens and min(tokens) < 0:  # RWKV's tokenizer gives -1 for text it has no token for
            raise ModelLoadError(f"{display_name(self.path)} cannot read this text: its "
                                 "vocabulary has no token for part of it.")
        bos = llama_cpp.llama_vocab_bos(self._vocab)
        if len(tokens) >= 2 and tokens[0] == tokens[1] == bos:
            tokens.pop(0)  # the template wrote {{ bos_token }} and the tokenizer added one too
        return tokens

    def _raw_piece(self, token: int, special: bool) -> bytes:
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n  # the piece is longer than the buffer: llama.cpp says how long

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._raw_piece(token, True).decode("utf-8", errors="replace")

    def piece(self, token: int) -> tuple[bytes, bool]:
        """(bytes, is_special) for one token, cached: called once per generated token."""
        cached = self._pieces.get(token)
        if cached is None:
            attr = llama_cpp.llama_vocab_get_attr(self._vocab, token)
            raw = self._raw_piece(token, True)
            special = bool(attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL) or (
                bool(attr & llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED)
                and raw.startswith(b"<") and raw.endswith(b">"))
            cached = self._pieces[token] = (raw, special)
        return cached

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.piece(t)[0] for t in tokens).decode("utf-8", errors="replace")

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    # -- evaluation ---------------------------------------------------------------------------

    def _decode(self, tokens: Sequence[int]) -> None:
        arr = (llama_cpp.llama_token * len(tokens))(*tokens)
        rc = llama_cpp.llama_decode(self._ctx, llama_cpp.llama_batch_get_one(arr, len(tokens)))
        if rc != 0:
            # Whatever this batch did to the cache is unknown now: start clean next time.
            self._forget_cache()
            if rc == 1:
                raise ContextFullError("The context window is full.")
            raise RuntimeError(self._failure(f"llama_decode failed ({rc})"))
        self._cached.extend(tokens)

    def _decode_all(self, tokens: Sequence[int]) -> None:
        """Evaluate `tokens` after the cache with an output at every position (a draft's check)."""
        if self._verify is None:
            self._verify = VerifyBatch(self.n_batch)
        batch = self._verify.fill(tokens, len(self._cached))
        rc = llama_cpp.llama_decode(self._ctx, batch)
        if rc != 0:
            self._forget_cache()
            if rc == 1:
                raise ContextFullError("The context window is full.")
            raise RuntimeError(self._failure(f"llama_decode failed ({rc})"))
        self._cached.extend(tokens)

    def _truncate_cache(self, n: int) -> None:
        """Keep only the first `n` cached tokens (drop a draft's rejected tail)."""
        if n < len(self._cached):
            if not llama_cpp.llama_memory_seq_rm(self._memory, 0, n, -1):
                self._forget_cache()
                raise RuntimeError("llama.cpp could not remove rejected draft tokens")
            del self._cached[n:]

    def _forget_cache(self) -> None:
        llama_cpp.llama_memory_clear(self._memory, True)
        self._cached = []

    def _reuse_prefix(self, prompt: Sequence[int], limit: int | None = None) -> int:
        """Keep the longest cached prefix of `prompt` (at most `limit` tokens); return how many
        tokens it covers."""
        common = 0
        for a, b in zip(self._cached, prompt):
            if a != b or (limit is not None and common >= limit):
                break
            common += 1
        if common == len(prompt):
            common -= 1  # the last prompt token must be evaluated again to get its logits
        if common <= 0:
            self._forget_cache()
            return 0
        # With a sliding-window cache that is not full size (swa_full off), positions older
        # than the window are gone; rewinding to `common` needs the window before it intact.
        n_swa = llama_cpp.llama_model_n_swa(self._model)
        if n_swa > 0 and llama_cpp.llama_memory_seq_pos_min(self._memory, 0) > max(0, common - n_swa):
            self._forget_cache()
            return 0
        if not llama_cpp.llama_memory_seq_rm(self._memory, 0, common, -1):
            self._forget_cache()  # this cache cannot cut there: evaluate from scratch
            return 0
        del self._cached[common:]
        return common

    def _sampler(self, sampling: Sampling) -> SamplerChain:
        if self._chain is not None and self._chain.sampling == sampling:
            self._chain.reset()
            return self._chain
        if self._chain is not None:
            if self._chain_on_backend:
                llama_cpp.llama_set_sampler(self._ctx, 0, None)
            self._chain.free()
            self._chain = None
        chain = SamplerChain(sampling, self._vocab)
        self._chain_on_backend = False
        if self.options.backend_sampling and not chain.has_grammar:
            self._chain_on_backend = bool(llama_cpp.llama_set_sampler(self._ctx, 0, chain.ptr))
        self._chain = chain
        return chain

    def check_sampling(self, sampling: Sampling) -> None:
        """ValueError if these settings cannot make a sampler (a grammar that does not parse)."""
        SamplerChain(sampling, self._vocab).free()

    def generate(self, prompt: Sequence[int], sampling: Sampling = GPT_OSS_DEFAULT,
                 cancel: threading.Event | None = None,
                 stats: GenerationStats | None = None,
                 reuse_limit: int | None = None) -> Iterator[Piece]:
        """Yield generated pieces (UTF-8 assembled across tokens) until end of generation.

        Fills `stats` as it goes; its finish_reason says why the loop ended. `reuse_limit`
        caps the cached prefix kept: a replay evaluates exactly what the original evaluated
        (batched arithmetic can differ in the last bits from one-token steps).
        """
        stats = stats if stats is not None else GenerationStats()
        prompt = list(prompt)
        if not prompt:
            raise ValueError("empty prompt")
        if len(prompt) >= self.n_ctx:
            raise ContextFullError(
                f"The prompt needs {len(prompt):,} tokens; the context holds {self.n_ctx:,}.")
        t0 = time.perf_counter()
        stats.prompt_tokens = len(prompt)
        chain = self._sampler(sampling)
        stats.sampler = "backend" if self._chain_on_backend else "cpu"
        stats.cached_tokens = self._reuse_prefix(prompt, reuse_limit)
        todo = prompt[stats.cached_tokens:]
        for i in range(0, len(todo), self.n_batch):
            if cancel is not None and cancel.is_set():
                stats.finish_reason = "cancelled"
                return
            self._decode(todo[i:i + self.n_batch])

        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        limit = sampling.max_tokens
        spec = self._speculator(prompt)
        t_first = None
        decided: list[int] = []  # sampled, not yet yielded; all but the last already in the cache
        token = None
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    stats.finish_reason = "cancelled"
                    break
                if not decided:
                    decided = self._next_tokens(chain, spec, token)
                token = decided.pop(0)
                now = time.perf_counter()
                if t_first is None:
                    t_first = now
                    stats.ttft_s = now - t0
                stats.decode_s = now - t_first
                if self.is_eog(token):
                    stats.finish_reason = "stop"
                    stats.stop_token = self.piece(token)[0].decode("utf-8", errors="replace")
                    break
                stats.generated_tokens += 1
                raw, special = self.piece(token)
                if special:
                    tail = utf8.decode(b"", final=True)
                    utf8.reset()
                    if tail:
                        yield Piece(token, tail, False)
                    yield Piece(token, raw.decode("utf-8", errors="replace"), True)
                else:
                    text = utf8.decode(raw)
                    if text:
                        yield Piece(token, text, False)
                if limit is not None and stats.generated_tokens >= limit:
                    stats.finish_reason = "length"
                    break
                if not decided and len(self._cached) >= self.n_ctx:
                    stats.finish_reason = "length"
                    break
        finally:
            if spec is not None:
                stats.drafted_tokens, stats.accepted_tokens = spec.drafted, spec.accepted
        tail = utf8.decode(b"", final=True)
        if tail:
            yield Piece(-1, tail, False)

    def _speculator(self, prompt: Sequence[int]) -> Speculator | None:
        options = self.options.speculative
        if options is None or not self._can_speculate or options.max_draft < 1:
            return None
        return self.speculator_factory(prompt, options)

    def _next_tokens(self, chain: SamplerChain, spec: Speculator | None,
                     last: int | None) -> list[int]:
        """The next token(s): `last` (None after the prompt) is evaluated, alone or followed by
        a draft; the draft is kept up to the first position where the sampler disagrees."""
        if last is None:
            tokens = [chain.sample(self._ctx)]
        else:
            room = min(self.n_ctx - len(self._cached), self.n_batch) - 1
            draft = spec.draft(room) if spec is not None and room > 0 else []
            if not draft:
                self._decode([last])
                tokens = [chain.sample(self._ctx)]
            else:
                kept = len(self._cached) + 1
                self._decode_all([last, *draft])
                tokens = []
                for i, guess in enumerate(draft):
                    token = chain.sample(self._ctx, i)
                    tokens.append(token)
                    if token != guess:
                        break
                else:
                    tokens.append(chain.sample(self._ctx, len(draft)))
                accepted = len(tokens) - 1
                self._truncate_cache(kept + accepted)
                spec.verified(len(draft), accepted)
        if spec is not None:
            spec.decided(tokens)
        return tokens

    # -- chat ---------------------------------------------------------------------------------

    def render(self, messages: Sequence[Message], effort: str = "medium", *, tools=None,
               builtin_tools=(), now=None, continue_final: bool = False,
               thinking: bool | None = None,
               cancel: threading.Event | None = None) -> str:
        """The prompt text for the assistant's next message.

        `messages`: the OpenAI chat shape or ChatMessage (inference/chat_messages.py); `tools`:
        function tools (FunctionTool or the OpenAI `tools` shape); `now`: the date the prompt
        carries (a re-run passes the original one); `continue_final`: the last message is a
        cut-off answer that generation continues; `thinking`: a <think> model's switch, as its
        template's `enable_thinking` (None leaves the template's default). gpt-oss: exactly as openai-harmony renders
        it, a Prompt (tokenize() honours its segments), with `builtin_tools` (harmony_tools.
        BROWSER, PYTHON) in the system message. Other models: their own Jinja template, user
        text defused, `tools` passed as the template's `tools`, under the template's budget
        (ChatTemplateError past it; `cancel` set from another thread stops it: RenderCancelled).
        """
        if self.template.is_harmony:
            return render_harmony(messages, effort=effort, now=now or self.template.now(),
                                  tools=tools, builtin_tools=builtin_tools,
                                  continue_final=continue_final)
        extra = {} if thinking is None else {"enable_thinking": thinking}
        return self.template.render(template_messages(messages), effort=effort,
                                    tools=template_tools(tools), now=now,
                                    continue_final=continue_final, cancel=cancel, **extra)

    def forget_cache(self) -> None:
        """Evaluate the next prompt from scratch (a re-run that must not reuse the KV cache)."""
        self._forget_cache()

    def chat_tokens(self, prompt: Sequence[int], prompt_text: str, sampling: Sampling = GPT_OSS_DEFAULT,
                    cancel: threading.Event | None = None,
                    reuse_limit: int | None = None) -> Iterator[Event]:
        """Generate from an already rendered and tokenized prompt; yield parsed events, then Done."""
        parser = parser_for(self.template.source, prompt_text)
        stats = GenerationStats()
        for piece in self.generate(prompt, sampling, cancel, stats, reuse_limit):
            yield from parser.feed(piece.text, piece.special)
        yield from parser.finish(stats.stop_token)  # `<|call|>` completes a tool call
        yield Done(stats)

    def chat(self, messages: Sequence[Message], effort: str = "medium",
             sampling: Sampling = GPT_OSS_DEFAULT, cancel: threading.Event | None = None,
             **render_options) -> Iterator[Event]:
        """Render (with render()'s options: tools, now…), tokenize, generate and parse one
        assistant message."""
        try:
            text = self.render(messages, effort, cancel=cancel, **render_options)
        except RenderCancelled:
            yield Done(GenerationStats(finish_reason="cancelled"))
            return
        check_prompt_length(text, self.n_ctx)  # before tokenizing it for nothing (minutes at 100 MB)
        yield from self.chat_tokens(self.tokenize(text), text, sampling, cancel)

    @property
    def tools_supported(self) -> bool:
        """Only gpt-oss was trained for the tools Hearth declares (in harmony)."""
        return self.template.is_harmony

    @property
    def cached_tokens(self) -> int:
        """How many tokens the KV cache holds now (the context used by this conversation)."""
        return len(self._cached)
