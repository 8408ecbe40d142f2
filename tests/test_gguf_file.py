"""Reading a GGUF header before llama.cpp sees the file (inference/gguf_file.py).

check_gguf is the gate in front of every load: it must describe good files correctly and
turn every damaged one into a ModelFileError a user can act on.
"""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import pytest

from fixtures.tiny_models import CHAT_TEMPLATE_PATH, N_VOCAB
from inference.gguf_file import ModelFileError, check_gguf


@pytest.fixture(scope="module")
def tiny_reader(tiny_gpt_oss) -> gguf.GGUFReader:
    """gguf's own (slow, thorough) reader, as the reference for the tiny model."""
    return gguf.GGUFReader(tiny_gpt_oss)


def write_file(tmp_path: Path, data: bytes, name: str = "damaged.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_tiny_model_header(tiny_gpt_oss, tiny_reader):
    info = check_gguf(tiny_gpt_oss)
    assert info.architecture == "gpt-oss"
    assert info.name == "tiny-gpt-oss"
    assert info.context_length == 4096
    assert info.version == 3
    assert info.chat_template == CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")
    assert info.file_size == tiny_gpt_oss.stat().st_size
    # Agrees with gguf's own reader.
    assert info.tensor_count == len(tiny_reader.tensors) == 41
    assert info.parameter_count == sum(int(t.n_elements) for t in tiny_reader.tensors)
    assert info.tensor_types == {"F32": 41}
    # Long arrays are summarised by their length; short ones kept.
    assert info.metadata["tokenizer.ggml.tokens"] == N_VOCAB
    assert info.metadata["gpt-oss.attention.sliding_window"] == 128
    assert info.metadata["tokenizer.ggml.merges"] == ["Ġ t", "h e", "Ġt he", "a n", "i n", "e r"]


def test_smollm2_header(smollm2_path):
    info = check_gguf(smollm2_path)
    assert info.architecture == "llama"
    assert info.name.startswith("Smollm2 135M")
    assert info.context_length == 8192
    assert info.tensor_count == 272  # 30 blocks x 9 + token_embd + output_norm
    assert info.tensor_types["Q4_1"] > 0
    assert 130_000_000 < info.parameter_count < 140_000_000
    assert info.chat_template and "<|im_start|>" in info.chat_template


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="nowhere.gguf: no such file"):
        check_gguf(tmp_path / "nowhere.gguf")


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="is not a file"):
        check_gguf(tmp_path)


@pytest.mark.parametrize("content", [b"", b"GGUF", b"hello\n"], ids=["empty", "magic-only", "short-text"])
def test_tiny_files(tmp_path, content):
    path = write_file(tmp_path, content)
    with pytest.raises(ModelFileError, match=f"not a GGUF model \\(only {len(content)} bytes\\)"):
        check_gguf(path)


def test_not_a_gguf_file(tmp_path):
    path = write_file(tmp_path, b"PK\x03\x04" + b"\x00" * 4096, "model.zip")
    with pytest.raises(ModelFileError, match="model.zip is not a GGUF model file") as info:
        check_gguf(path)
    assert ".gguf" in str(info.value)  # tells the user what to look for


@pytest.mark.parametrize("version", [1, 4, 0x03000000])
def test_unsupported_version(tiny_gpt_oss, tmp_path, version):
    data = bytearray(tiny_gpt_oss.read_bytes())
    data[4:8] = struct.pack("<I", version)
    path = write_file(tmp_path, bytes(data))
    with pytest.raises(ModelFileError, match=f"GGUF version {version}, which Hearth cannot read"):
        check_gguf(path)


@pytest.mark.parametrize("cut", [30, 2000, 20_000], ids=["counts", "tokenizer", "template"])
def test_truncated_header(tiny_gpt_oss, tmp_path, cut):
    path = write_file(tmp_path, tiny_gpt_oss.read_bytes()[:cut])
    with pytest.raises(ModelFileError, match="damaged or truncated: its header cannot be read"):
        check_gguf(path)


def test_corrupt_value_type_in_header(tiny_gpt_oss, tmp_path):
    data = bytearray(tiny_gpt_oss.read_bytes())
    # The first key/value pair starts at byte 24: key length (8), key, then its value type (4).
    key_len = struct.unpack_from("<Q", data, 24)[0]
    data[32 + key_len:36 + key_len] = struct.pack("<I", 99)
    path = write_file(tmp_path, bytes(data))
    with pytest.raises(ModelFileError, match="not a valid GGUF model: general.architecture has an "
                                             "unknown value type \\(99\\)"):
        check_gguf(path)


@pytest.mark.parametrize("missing", [1, 4096, 400_000])
def test_truncated_tensor_data(tiny_gpt_oss, tiny_reader, tmp_path, missing):
    """An interrupted download: the header is whole, the weights are not."""
    data = tiny_gpt_oss.read_bytes()
    data_end = max(t.data_offset + t.n_bytes for t in tiny_reader.tensors)
    assert data_end == len(data)  # the last tensor ends the file, so every cut loses weights
    path = write_file(tmp_path, data[:-missing])
    with pytest.raises(ModelFileError) as info:
        check_gguf(path)
    message = str(info.value)
    assert "is truncated" in message and f"{missing:,} bytes of its weights are missing" in message
    assert "Download it again" in message


def test_file_cut_right_after_the_header(tiny_gpt_oss, tiny_reader, tmp_path):
    path = write_file(tmp_path, tiny_gpt_oss.read_bytes()[: tiny_reader.data_offset])
    with pytest.raises(ModelFileError, match="is truncated"):
        check_gguf(path)
