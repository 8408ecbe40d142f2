"""Read a GGUF file's header without loading it, and refuse files llama.cpp must never see.

`gguf.GGUFReader` builds a numpy view per tokenizer string (1.6 s for SmolLM2's 49k vocabulary,
far more for gpt-oss's 201k): too slow for a check before every load. This walks the header
with `struct` over a memory map, skipping array payloads, and checks that every tensor's data
lies inside the file, which is what a truncated download breaks.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.errors import UserError
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

MAGIC = b"GGUF"
_SCALAR = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
_LAYER = re.compile(r"blk\.(\d+)\.")
# Arrays we keep; longer ones are skipped and only their length is recorded. Numbers are kept
# up to one per layer (hybrid models give per-layer head counts); the tokenizer's 200k-entry
# arrays are skipped.
_MAX_KEPT_ARRAY = 64
_MAX_KEPT_NUMBERS = 1024
SPLIT_NAME = re.compile(r"(.+)-(\d{5})-of-(\d{5})\.gguf", re.IGNORECASE)  # llama.cpp's gguf-split


class ModelFileError(UserError):
    """The file is not a usable GGUF model. The message is meant for the user."""


@dataclass
class GGUFInfo:
    path: Path
    file_size: int
    version: int
    metadata: dict = field(default_factory=dict)  # scalars and short arrays; long arrays → length
    tensor_count: int = 0
    parameter_count: int = 0
    tensor_types: dict = field(default_factory=dict)  # type name → tensor count
    # Bytes of weights per repeating block ("blk.N.*"), and outside them (embeddings, output):
    # what the memory fit needs to decide how many layers go to the GPU.
    layer_bytes: dict = field(default_factory=dict)  # block index → bytes
    other_bytes: int = 0

    @property
    def weight_bytes(self) -> int:
        return self.other_bytes + sum(self.layer_bytes.values())

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def context_length(self) -> int:
        return int(self.metadata.get(f"{self.architecture}.context_length", 0) or 0)

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None


class _Cursor:
    def __init__(self, buf) -> None:
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str):
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        if self.pos + n > len(self.buf):
            raise struct.error("string runs past the end of the file")
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.unpack("<Q")  # not `self.pos += self.unpack(...)`: that reads pos first
        self.pos += n

    def value(self, vtype: int):
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            item_type, count = self.unpack("<I"), self.unpack("<Q")
            numeric = item_type in _SCALAR
            if count <= (_MAX_KEPT_NUMBERS if numeric else _MAX_KEPT_ARRAY):
                return [self.value(item_type) for _ in range(count)]
            if item_type == GGUFValueType.STRING:
                for _ in range(count):
                    self.skip_string()
            elif item_type in _SCALAR:
                self.pos += count * struct.calcsize(_SCALAR[GGUFValueType(item_type)])
            else:
                for _ in range(count):
                    self.value(item_type)
            return count
        return self.unpack(_SCALAR[GGUFValueType(vtype)])


def check_gguf(path: str | os.PathLike) -> GGUFInfo:
    """Header, metadata and tensor bounds of a GGUF file; ModelFileError if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path.name}: no such file.")
    size = path.stat().st_size
    if size < 24:
        raise ModelFileError(f"{path.name} is not a GGUF model (only {size} bytes).")
    with open(path, "rb") as fh:
        if fh.read(4) != MAGIC:
            raise ModelFileError(f"{path.name} is not a GGUF model file. Hearth runs GGUF models "
                                 "(the format llama.cpp uses); look for a file ending in .gguf.")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            try:
                return _parse(path, size, buf)
            except (struct.error, ValueError, OverflowError) as exc:
                raise ModelFileError(f"{path.name} is damaged or truncated: its header cannot "
                                     f"be read ({exc}).") from exc


def _parse(path: Path, size: int, buf) -> GGUFInfo:
    cur = _Cursor(buf)
    cur.pos = 4
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise ModelFileError(f"{path.name} is GGUF version {version}, which Hearth cannot read.")
    n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
    info = GGUFInfo(path=path, file_size=size, version=version, tensor_count=n_tensors)
    for _ in range(n_kv):
        key = cur.string()
        info.metadata[key] = cur.value(cur.unpack("<I"))

    data_end = 0
    for _ in range(n_tensors):
        name = cur.string()
        dims = [cur.unpack("<Q") for _ in range(cur.unpack("<I"))]
        qtype = GGMLQuantizationType(cur.unpack("<I"))
        offset = cur.unpack("<Q")
        elements = 1
        for d in dims:
            elements *= d
        block, type_size = GGML_QUANT_SIZES[qtype]
        nbytes = elements // block * type_size
        data_end = max(data_end, offset + nbytes)
        layer = _LAYER.match(name)
        if layer:
            index = int(layer.group(1))
            info.layer_bytes[index] = info.layer_bytes.get(index, 0) + nbytes
        else:
            info.other_bytes += nbytes
        info.parameter_count += elements
        info.tensor_types[qtype.name] = info.tensor_types.get(qtype.name, 0) + 1

    alignment = int(info.metadata.get("general.alignment", 32) or 32)
    data_start = -(-cur.pos // alignment) * alignment
    if data_start + data_end > size:
        missing = data_start + data_end - size
        raise ModelFileError(f"{path.name} is truncated: {missing:,} bytes of its weights are "
                             "missing. An interrupted download? Download it again.")
    return info


def split_parts(path: str | os.PathLike) -> list[Path]:
    """Every file of a model split with gguf-split (given its first part), else [path]."""
    path = Path(path)
    match = SPLIT_NAME.fullmatch(path.name)
    if not match or int(match[2]) != 1 or int(match[3]) < 2:
        return [path]
    return [path.with_name(f"{match[1]}-{i:05d}-of-{match[3]}{path.suffix}")
            for i in range(1, int(match[3]) + 1)]


def merge_parts(infos: list[GGUFInfo]) -> GGUFInfo:
    """One info for a split model: the first part's metadata, every part's tensors."""
    if len(infos) == 1:
        return infos[0]
    tensor_types: dict[str, int] = {}
    layer_bytes: dict[int, int] = {}
    for info in infos:
        for name, count in info.tensor_types.items():
            tensor_types[name] = tensor_types.get(name, 0) + count
        for layer, nbytes in info.layer_bytes.items():
            layer_bytes[layer] = layer_bytes.get(layer, 0) + nbytes
    return replace(
        infos[0], tensor_types=tensor_types, layer_bytes=layer_bytes,
        file_size=sum(i.file_size for i in infos),
        tensor_count=sum(i.tensor_count for i in infos),
        parameter_count=sum(i.parameter_count for i in infos),
        other_bytes=sum(i.other_bytes for i in infos),
    )


def check_model(path: str | os.PathLike) -> GGUFInfo:
    """check_gguf over a whole model: every part of a split one, merged."""
    parts = split_parts(path)
    missing = [p for p in parts if not p.is_file()]
    if len(parts) > 1 and missing:
        raise ModelFileError(f"{Path(path).name} is one of {len(parts)} parts and "
                             f"{missing[0].name} is missing.")
    return merge_parts([check_gguf(p) for p in parts])
