"""Fuzzing the GGUF header reader: whatever the bytes, check_model gives a GGUFInfo or a
ModelFileError, never another exception, and within a time bound; and a GGUFInfo it gives is
safe to use as the app does (its properties, the memory fit every listed model gets)."""

from __future__ import annotations

import struct
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.hostile_gguf import header, kv, tensor_info
from gguf import GGUFValueType as T
from inference.gguf_file import GGUFInfo, ModelFileError, check_model
from inference.models.fit import ModelShape, estimate
from inference.models.hardware import Machine

MACHINE = Machine(ram_total=32 << 30, ram_available=24 << 30, backend="cpu")

FUZZ = settings(max_examples=150, deadline=timedelta(seconds=5), derandomize=False,
                suppress_health_check=[HealthCheck.too_slow])


def small_model() -> bytes:
    """A valid GGUF of ~1.5 KB with every kind of value the reader walks: text, numbers, a
    short and a long string array, a number array, per-layer numbers, tensors of two types."""
    tokens = [f"t{i}" for i in range(80)]  # longer than the arrays the reader keeps
    kvs = [
        kv("general.architecture", T.STRING, "llama"),
        kv("general.alignment", T.UINT32, 32),
        kv("llama.block_count", T.UINT32, 2),
        kv("llama.context_length", T.UINT32, 4096),
        kv("llama.attention.head_count", T.ARRAY, (T.UINT32, [4, 4])),
        kv("llama.expert_count", T.UINT32, 4),
        kv("llama.expert_used_count", T.UINT32, 2),
        kv("llama.rope.freq_base", T.FLOAT32, 10000.0),
        kv("tokenizer.ggml.model", T.STRING, "gpt2"),
        kv("tokenizer.ggml.tokens", T.ARRAY, (T.STRING, tokens)),
        kv("tokenizer.ggml.merges", T.ARRAY, (T.STRING, ["t 0", "t 1"])),
        kv("tokenizer.ggml.scores", T.ARRAY, (T.FLOAT32, [0.0] * 80)),
        kv("tokenizer.ggml.add_bos_token", T.BOOL, True),
    ]
    tensors = [tensor_info("token_embd.weight", [8, 4], 0, 0),
               tensor_info("blk.0.attn_q.weight", [32, 1], 8, 128)]  # Q8_0: 34 bytes a block
    head = header(kvs, tensors)
    head += bytes(-len(head) % 32)
    return head + bytes(128 + 34)


SMALL = small_model()


def check(data: bytes) -> GGUFInfo | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.gguf"
        path.write_bytes(data)
        start = time.monotonic()
        try:
            info = check_model(path)
            use(info)
            return info
        except ModelFileError as exc:
            assert str(exc) and "\n" not in str(exc)
            return None
        finally:
            assert time.monotonic() - start < 5


def use(info: GGUFInfo) -> None:
    """What the model list and a load read from an accepted header."""
    assert isinstance(info.architecture, str) and isinstance(info.name, str)
    assert isinstance(info.context_length, int) and info.weight_bytes >= 0
    assert info.chat_template is None or isinstance(info.chat_template, str)
    estimate(ModelShape.from_gguf(info), 4096, MACHINE)


def test_the_fuzzed_model_is_valid():
    info = check_model_bytes(SMALL)
    assert info.architecture == "llama" and info.tensor_count == 2
    assert info.metadata["tokenizer.ggml.tokens"] == 80


def check_model_bytes(data: bytes) -> GGUFInfo:
    info = check(data)
    assert info is not None
    return info


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_after_the_magic(tail):
    check(b"GGUF" + struct.pack("<I", 3) + tail)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(SMALL) - 1), st.integers(0, 255)),
                min_size=1, max_size=8),
       st.integers(0, len(SMALL)))
def test_mutated_header(edits, cut):
    """Bytes of a valid model overwritten here and there, the file possibly cut short."""
    data = bytearray(SMALL)
    for position, byte in edits:
        data[position] = byte
    check(bytes(data[:max(cut, 24)]))


@FUZZ
@given(st.integers(0, len(SMALL) - 8), st.sampled_from(
    [0, 1, 2**31, 2**32 - 1, 2**32, 2**62, 2**63, 2**64 - 1]))
def test_a_count_or_length_replaced_by_an_extreme(position, value):
    """Counts and lengths are 8-byte fields: any of them may claim far more than the file."""
    data = bytearray(SMALL)
    data[position:position + 8] = struct.pack("<Q", value)
    check(bytes(data))


@pytest.mark.parametrize("nbytes", [0, 23, 24, 25])
def test_files_too_short_for_a_header(nbytes):
    assert check(SMALL[:nbytes]) is None


# Structured headers: the keys Hearth and llama.cpp read by name, with values of any type,
# arrays of anything (arrays of arrays included), and tensors of any shape and type.
KEYS = ["general.alignment", "general.architecture", "general.name", "general.type",
        "general.file_type", "tokenizer.chat_template", "tokenizer.ggml.model",
        "tokenizer.ggml.tokens"] + [f"llama.{k}" for k in (
            "block_count", "context_length", "embedding_length", "attention.head_count",
            "attention.head_count_kv", "attention.key_length", "attention.sliding_window",
            "expert_count", "expert_used_count", "expert_group_count", "vocab_size",
            "nextn_predict_layers", "rope.dimension_count", "rope.scaling.type")]
INTEGERS = st.sampled_from([0, 1, 2, 3, 4, 31, 32, 513, 2**31, 2**32 - 1])
SCALARS = {
    T.UINT8: st.integers(0, 255), T.INT8: st.integers(-128, 127), T.UINT32: INTEGERS,
    T.INT32: st.integers(-2**31, 2**31 - 1), T.UINT64: st.one_of(INTEGERS, st.just(2**64 - 1)),
    T.INT64: st.integers(-2**63, 2**63 - 1), T.FLOAT32: st.floats(width=32),
    T.BOOL: st.booleans(), T.STRING: st.sampled_from(["llama", "gpt2", "yarn", "", "x" * 70]),
}


def typed_values(depth: int = 2):
    scalar = st.sampled_from(sorted(SCALARS)).flatmap(
        lambda t: st.tuples(st.just(t), SCALARS[t]))
    if depth == 0:
        return scalar

    def array(item):  # of up to 70 copies of one value (the reader keeps up to 64 strings)
        item_type, value = item
        return st.integers(0, 70).map(lambda n: (T.ARRAY, (item_type, [value] * n)))
    return st.one_of(scalar, typed_values(depth - 1).flatmap(array))


@st.composite
def headers(draw) -> bytes:
    kvs = [kv(key, *draw(typed_values()))
           for key in draw(st.lists(st.sampled_from(KEYS), max_size=12, unique=True))]
    tensors = [tensor_info(f"blk.{i}.w", draw(st.lists(st.sampled_from([0, 1, 32, 2**32, 2**63]),
                                                      max_size=5)),
                           draw(st.sampled_from([0, 1, 2, 4, 8, 39, 42, 99])), 0)
               for i in range(draw(st.integers(0, 3)))]
    return header(kvs, tensors) + bytes(draw(st.integers(0, 256)))


@settings(FUZZ, max_examples=100)
@given(headers())
def test_structured_headers(data):
    check(data)
