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

from . import llama_log
from .chat_format import Message, RenderCancelled, model_template
from .context import check_prompt_length, template_messages, template_tools
from .events import Done, Event, GenerationStats
from .gguf_file import ModelFileError, check_model
from .harmony import parser_for
from .harmony_render import render_harmony
from .prompt_tokens import PromptTokenizer
from .models.fit import Fit
from .models.hardware import probe
from .load_options import (_PROMPT_BATCH, LoadCancelled, LoadOptions, ModelLoadError,
                           ModelTooLargeError, ensure_backend, plan_memory, refuse_non_models)
from .sampling import GPT_OSS_DEFAULT, SamplerChain, Sampling
from .speculative import Speculator, VerifyBatch, next_tokens
from .kv_cache import ContextFullError, KVCache
from .vocabulary import Vocabulary

__all__ = ["ContextFullError", "Engine", "LoadCancelled", "LoadOptions", "ModelLoadError",
           "ModelTooLargeError", "Piece"]


@dataclass(frozen=True)
class Piece:
    """One generated token as text. `special`: a control token (a harmony marker, say)."""

    token: int
    text: str
    special: bool


class Engine(Vocabulary, KVCache):
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
            refuse_non_models(self.info)
            self.fit = self._plan_memory()
        self._on_progress = on_progress
        ensure_backend()
        self._model = None
        self._ctx = None
        self._chain: SamplerChain | None = None
        self._chain_on_backend = False
        self._cached: list[int] = []  # tokens whose K/V sit in the cache, positions 0..n-1
        self._pieces: dict[int, tuple[bytes, bool]] = {}
        self._eog: dict[int, bool] = {}
        self._verify: VerifyBatch | None = None
        self.speculator_factory = Speculator  # (prompt, options) -> Speculator; benchmarks swap it
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # -- loading ------------------------------------------------------------------------------

    def _plan_memory(self) -> Fit:
        fit, self._n_batch = plan_memory(self.info, self.options, probe())
        return fit

    def _load(self) -> None:
        llama_log.take_recent_errors()
        mparams = llama_cpp.llama_model_default_params()
        layers = self.options.n_gpu_layers
        if layers is None:
            layers = self.fit.n_gpu_layers if self.fit else -1
        mparams.n_gpu_layers = 0x7FFFFFFF if layers < 0 else layers
        self._on_gpu = layers != 0 and bool(llama_cpp.llama_supports_gpu_offload())
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
        self._threads = (cparams.n_threads, cparams.n_threads_batch)
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

    # -- evaluation ---------------------------------------------------------------------------

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
                    decided = next_tokens(self, chain, spec, token)
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
        if not (self._on_gpu or options.on_cpu):
            return None
        return self.speculator_factory(prompt, options)

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
