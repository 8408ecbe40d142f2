"""What loading a model takes (LoadOptions) and the errors it can raise, meant for a person."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import llama_cpp  # before numpy: the CUDA build has been seen to crash at load otherwise

from common.errors import UserError
from common.text import display_name

from . import llama_log
from .gguf_file import split_parts
from .models.fit import Fit, ModelShape, Verdict, estimate
from .speculative import SpeculativeOptions

_backend_ready = False
_PROMPT_BATCH = 512  # tokens per prompt batch on a CPU, or where a GPU has no room for more
_PROMPT_BATCH_GPU = 2048
_backend_lock = threading.Lock()
_VERDICTS = [Verdict.FITS, Verdict.TIGHT, Verdict.WONT_FIT]


class ModelLoadError(UserError):
    """The file cannot be used as a model. The message is meant for the user."""


class ModelTooLargeError(ModelLoadError):
    """Loading would push the machine into swap. `fit` says why; LoadOptions.allow_swap overrides."""

    def __init__(self, message: str, fit: Fit) -> None:
        super().__init__(message)
        self.fit = fit


class LoadCancelled(ModelLoadError):
    pass


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


def ensure_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_log.install()
            llama_cpp.llama_backend_init()
            _backend_ready = True


def refuse_non_models(info) -> None:
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


def plan_memory(info, options: LoadOptions, machine) -> tuple[Fit, int]:
    """The fit estimate and the prompt batch size to load `info` with on `machine`."""
    shape = ModelShape.from_gguf(info)
    trained = info.context_length
    n_ctx = min(options.n_ctx, trained) if trained > 0 else options.n_ctx
    layers = options.n_gpu_layers

    def fit_at(n_batch: int) -> Fit:
        return estimate(shape, n_ctx, machine, n_ubatch=n_batch, swa_full=options.swa_full,
                        gpu_layers=None if layers is None else shape.n_layers if layers < 0 else layers)

    n_batch = options.n_batch or _PROMPT_BATCH
    fit = fit_at(n_batch)
    if options.n_batch is None and machine.backend != "cpu":
        # A bigger micro-batch reads the weights fewer times per prompt (llama-bench on an
        # H200: 9.3k tokens/s at 512, 13.1k at 2048, for a 32k prompt) but its compute
        # buffer grows with it (2 GB at 2048 for a 201k vocabulary): only where the fit
        # estimate still puts as many layers on the GPU and leaves the verdict as good.
        big = fit_at(_PROMPT_BATCH_GPU)
        no_worse = _VERDICTS.index(big.verdict) <= _VERDICTS.index(fit.verdict)
        if fit.gpu_layers > 0 and big.gpu_layers >= fit.gpu_layers and no_worse:
            n_batch, fit = _PROMPT_BATCH_GPU, big
    if fit.verdict is Verdict.WONT_FIT and not options.allow_swap:
        raise ModelTooLargeError(fit.reason, fit)
    return fit, n_batch
