"""Read a GGUF file's header without loading it, and refuse files llama.cpp must never see.

`gguf.GGUFReader` builds a numpy view per tokenizer string (1.6 s for SmolLM2's 49k vocabulary,
far more for gpt-oss's 201k): too slow for a check before every load. This walks the header
with `struct` over a memory map, skipping array payloads, and checks that every tensor's data
lies inside the file, which is what a truncated download breaks.

The header is untrusted: every count and length is checked against the bytes left before it is
used, and against limits far above any real model (a crafted header must be refused in bounded
time and memory, whatever it claims). Values llama.cpp would assert on are checked by
gguf_limits.py. Every refusal is a ModelFileError with a one-line reason.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.errors import UserError
from gguf.constants import GGML_QUANT_SIZES, GGUFValueType

from . import gguf_limits
from common.text import display_name, display_text

MAGIC = b"GGUF"
_SCALAR = {
    GGUFValueType.UINT8: "B", GGUFValueType.INT8: "b", GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h", GGUFValueType.UINT32: "I", GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f", GGUFValueType.BOOL: "?", GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q", GGUFValueType.FLOAT64: "d",
}
_SCALAR_SIZE = {t: struct.calcsize(f) for t, f in _SCALAR.items()}
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from
# ggml type id → (name, block size, bytes per block). Q2_0 is newer than the gguf package.
_TENSOR_TYPES = {int(t): (t.name, *GGML_QUANT_SIZES[t]) for t in GGML_QUANT_SIZES}
_TENSOR_TYPES.setdefault(42, ("Q2_0", 64, 18))
_LAYER = re.compile(r"blk\.(\d+)\.")
_ROUTER = re.compile(r"blk\.(\d+)\.ffn_gate_inp\.weight")  # a mixture-of-experts layer's router
# Arrays we keep; longer ones are skipped and only their length is recorded. Numbers are kept
# up to one per layer (hybrid models give per-layer head counts); the tokenizer's 200k-entry
# arrays are skipped.
_MAX_KEPT_ARRAY = 64
_MAX_KEPT_NUMBERS = 1024
_MAX_KEPT_TEXT = 1 << 20  # a longer string value is recorded by its length
SPLIT_NAME = re.compile(r"(.+)-(\d{5})-of-(\d{5})\.gguf", re.IGNORECASE)  # llama.cpp's gguf-split

# Limits far above real models (gpt-oss-120b: 37 keys, 687 tensors, 650k tokenizer strings,
# 9 MB of metadata) and low enough that a header claiming more is refused within a second or
# two and a few MB. llama.cpp copies the whole metadata into memory, so its size is bounded too.
MAX_KEYS = 1 << 16
MAX_TENSORS = 1 << 17
MAX_ARRAY_STRINGS = 1 << 22  # all string arrays together
MAX_METADATA_BYTES = 1 << 28
MAX_KEY_BYTES = 1 << 10
# Only this much of a file is mapped: a header never needs more, and a 64 GB file must not cost
# 64 GB of address space (a process running under a memory limit could not map it at all).
MAX_HEADER_BYTES = MAX_METADATA_BYTES + MAX_TENSORS * 128
GGML_MAX_NAME = 64  # tensor names are shorter (llama.cpp's limit, terminating zero included)
GGML_MAX_DIMS = 4
INT64_MAX = (1 << 63) - 1
_MIN_KV_BYTES = 8 + 1 + 4 + 1  # key length, a 1-byte key, value type, a 1-byte value
_MIN_TENSOR_BYTES = 8 + 1 + 4 + 4 + 8  # name length, a 1-byte name, dims, type, offset


class ModelFileError(UserError):
    """The file is not a usable GGUF model. The message is meant for the user."""


class _Invalid(Exception):
    """The header says something no GGUF reader accepts; the message says what."""


class _Truncated(Exception):
    """The header claims more than the file holds: cut short, or lying."""


@dataclass
class GGUFInfo:
    path: Path
    file_size: int
    version: int
    metadata: dict = field(default_factory=dict)  # scalars and short arrays; long ones → length
    tensor_count: int = 0
    parameter_count: int = 0
    tensor_types: dict = field(default_factory=dict)  # type name → tensor count
    # Bytes of weights per repeating block ("blk.N.*"), and outside them (embeddings, output):
    # what the memory fit needs to decide how many layers go to the GPU.
    layer_bytes: dict = field(default_factory=dict)  # block index → bytes
    other_bytes: int = 0
    # Each key's GGUF type: GGUFValueType, or (ARRAY, item type) for arrays.
    value_types: dict = field(default_factory=dict)
    array_offsets: dict = field(default_factory=dict)  # skipped array → file offset of item 0
    expert_layers: frozenset = frozenset()  # blocks with a mixture-of-experts router

    @property
    def weight_bytes(self) -> int:
        return self.other_bytes + sum(self.layer_bytes.values())

    @property
    def architecture(self) -> str:
        value = self.metadata.get("general.architecture", "")
        return value if isinstance(value, str) else ""

    @property
    def name(self) -> str:
        value = self.metadata.get("general.name")
        return value if isinstance(value, str) and value else self.path.stem

    @property
    def context_length(self) -> int:
        value = self.metadata.get(f"{self.architecture}.context_length", 0)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None


class _Cursor:
    """Reads over the mapped file (struct.error past its end), checking every length first."""

    def __init__(self, buf, size: int) -> None:
        self.buf, self.size, self.pos = buf, size, 0
        self.strings_left = MAX_ARRAY_STRINGS

    def u32(self) -> int:
        value = _U32(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def u64(self) -> int:
        value = _U64(self.buf, self.pos)[0]
        self.pos += 8
        return value

    def room(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise _Truncated(f"{what} runs past the end of the file")

    def raw_string(self, what: str) -> bytes:
        n = self.u64()
        self.room(n, what)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        return raw

    def value(self, vtype: int, key: str):
        """(value, type) of one metadata value; a long string or array → its length."""
        if vtype == GGUFValueType.STRING:
            n = self.u64()
            self.room(n, f"the text of {key}")
            start, self.pos = self.pos, self.pos + n
            if n > _MAX_KEPT_TEXT:
                return n, GGUFValueType.STRING
            return self.buf[start:self.pos].decode("utf-8", errors="replace"), GGUFValueType.STRING
        if vtype == GGUFValueType.ARRAY:
            item_type, count = self.u32(), self.u64()
            return self.array(item_type, count, key), (GGUFValueType.ARRAY, item_type)
        fmt = _SCALAR.get(vtype)
        if fmt is None:
            raise _Invalid(f"{key} has an unknown value type ({vtype})")
        value = struct.unpack_from("<" + fmt, self.buf, self.pos)[0]
        self.pos += _SCALAR_SIZE[vtype]
        return value, vtype

    def array(self, item_type: int, count: int, key: str):
        if item_type == GGUFValueType.ARRAY:
            raise _Invalid(f"{key} is an array of arrays, which GGUF does not allow")
        if item_type == GGUFValueType.STRING:
            if count > self.strings_left:
                raise _Invalid(f"its arrays hold more than {MAX_ARRAY_STRINGS:,} strings")
            if count * 8 > self.size - self.pos:
                raise _Truncated(f"{key} claims {count:,} strings, more than the file holds")
            self.strings_left -= count
            if count <= _MAX_KEPT_ARRAY:
                return [self.raw_string(key).decode("utf-8", errors="replace")
                        for _ in range(count)]
            self.skip_strings(count)
            return count
        fmt = _SCALAR.get(item_type)
        if fmt is None:
            raise _Invalid(f"{key} is an array of an unknown type ({item_type})")
        nbytes = count * _SCALAR_SIZE[item_type]
        if nbytes > self.size - self.pos:
            raise _Truncated(f"{key} claims {count:,} values, more than the file holds")
        if nbytes > MAX_METADATA_BYTES:
            raise _Invalid(f"{key} holds {nbytes:,} bytes of values")
        start, self.pos = self.pos, self.pos + nbytes
        if count <= _MAX_KEPT_NUMBERS:
            return list(struct.unpack_from(f"<{count}{fmt}", self.buf, start))
        return count

    def skip_strings(self, count: int) -> None:
        # The hot loop of a header read (a tokenizer's 200k-650k strings): locals only. A
        # length past the end of the file makes the next unpack raise struct.error.
        buf, pos, u64 = self.buf, self.pos, _U64
        for _ in range(count):
            pos += 8 + u64(buf, pos)[0]
        if pos > self.size:
            raise _Truncated("a string runs past the end of the file")
        self.pos = pos


def _os_path(path: str | bytes | os.PathLike) -> Path:
    """A Path for any name the OS gives, bytes that are not UTF-8 included."""
    return Path(os.fsdecode(path))


def check_gguf(path: str | bytes | os.PathLike) -> GGUFInfo:
    """Header, metadata and tensor bounds of a GGUF file; ModelFileError if it is unusable."""
    path = _os_path(path)
    name = display_name(path)
    if not path.is_file():
        if path.exists():  # a folder, a FIFO (opening one would wait forever), a device
            raise ModelFileError(f"{name} is not a file.")
        raise ModelFileError(f"{name}: no such file.")
    size = mapped = 0
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 24:
                raise ModelFileError(f"{name} is not a GGUF model (only {size} bytes).")
            if fh.read(4) != MAGIC:
                raise ModelFileError(f"{name} is not a GGUF model file. Hearth runs GGUF models "
                                     "(the format llama.cpp uses); look for a file ending in .gguf.")
            mapped = min(size, MAX_HEADER_BYTES)
            with mmap.mmap(fh.fileno(), mapped, access=mmap.ACCESS_READ) as buf:
                info = _parse(path, size, buf, mapped)
    except (_Truncated, struct.error, ValueError, OverflowError) as exc:
        if mapped < size:  # it ran past what a header may take, not past the end of the file
            raise ModelFileError(f"{name} is not a valid GGUF model: its header is larger than "
                                 f"{MAX_HEADER_BYTES >> 20} MB.") from None
        # struct.error: a read past the end (its own wording names offsets, not the problem).
        reason = exc if isinstance(exc, _Truncated) else "the file ends inside its header"
        raise ModelFileError(f"{name} is damaged or truncated: its header cannot be read "
                             f"({display_text(str(reason))}).") from exc
    except _Invalid as exc:  # keys and names come from the file: shown escaped
        reason = display_text(str(exc))
        raise ModelFileError(f"{name} is not a valid GGUF model: {reason}.") from None
    except OSError as exc:
        raise ModelFileError(f"{name} cannot be read ({exc.strerror or exc}).") from exc
    problem = gguf_limits.problem_with_values(info)
    if problem:
        raise ModelFileError(f"{name} cannot be loaded: {display_text(problem)}.")
    return info


def _parse(path: Path, size: int, buf, mapped: int) -> GGUFInfo:
    cur = _Cursor(buf, mapped)
    cur.pos = 4
    version = cur.u32()
    if version not in (2, 3):
        raise ModelFileError(f"{display_name(path)} is GGUF version {version}, which Hearth "
                             "cannot read.")
    n_tensors, n_kv = cur.u64(), cur.u64()
    if n_kv > MAX_KEYS:
        raise _Invalid(f"its header claims {n_kv:,} metadata keys (at most {MAX_KEYS:,} are read)")
    if n_tensors > MAX_TENSORS:
        raise _Invalid(f"its header claims {n_tensors:,} tensors (at most {MAX_TENSORS:,} are "
                       "read)")
    if n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_BYTES > mapped - cur.pos:
        raise _Truncated(f"it claims {n_kv:,} metadata keys and {n_tensors:,} tensors, more than "
                         f"its {size:,} bytes hold")
    info = GGUFInfo(path=path, file_size=size, version=version, tensor_count=n_tensors)
    metadata, types = info.metadata, info.value_types
    for _ in range(n_kv):
        raw_key = cur.raw_string("a metadata key")
        if not raw_key or len(raw_key) > MAX_KEY_BYTES:
            raise _Invalid(f"a metadata key is {len(raw_key):,} bytes long")
        key = raw_key.decode("utf-8", errors="replace")
        if key in metadata:
            raise _Invalid(f"the metadata key {key!r} appears twice")
        start = cur.pos + 4
        metadata[key], types[key] = cur.value(cur.u32(), key)
        if isinstance(types[key], tuple):
            info.array_offsets[key] = start + 12  # after the item type and count
        if cur.pos > MAX_METADATA_BYTES:
            raise _Invalid(f"its metadata is larger than {MAX_METADATA_BYTES >> 20} MB")

    data_end = 0
    names: set[bytes] = set()
    experts: set[int] = set()
    for _ in range(n_tensors):
        raw = cur.raw_string("a tensor name")
        tensor = raw.decode("utf-8", errors="replace")
        if not raw or len(raw) >= GGML_MAX_NAME:
            raise _Invalid(f"a tensor name is {len(raw)} bytes long (1 to {GGML_MAX_NAME - 1} "
                           "are allowed)")
        if raw in names:
            raise _Invalid(f"the tensor {tensor!r} appears twice")
        names.add(raw)
        n_dims = cur.u32()
        if n_dims > GGML_MAX_DIMS:
            raise _Invalid(f"the tensor {tensor!r} has {n_dims:,} dimensions (at most "
                           f"{GGML_MAX_DIMS})")
        dims = struct.unpack_from(f"<{n_dims}Q", buf, cur.pos)
        cur.pos += 8 * n_dims
        elements = 1
        for d in dims:
            elements *= d
        if elements == 0 or elements > INT64_MAX:  # no zero-size weights: llama.cpp aborts on some
            shape = " x ".join(str(d) for d in dims)
            raise _Invalid(f"the tensor {tensor!r} has an impossible shape ({shape})")
        qtype = cur.u32()
        kind = _TENSOR_TYPES.get(qtype)
        if kind is None:
            raise _Invalid(f"the tensor {tensor!r} has an unknown type ({qtype})")
        type_name, block, type_size = kind
        if (dims[0] if dims else 1) % block:
            raise _Invalid(f"the tensor {tensor!r} has rows of {dims[0] if dims else 1} values, "
                           f"not a multiple of {type_name}'s block of {block}")
        offset = cur.u64()
        nbytes = elements // block * type_size
        data_end = max(data_end, offset + nbytes)
        layer = _LAYER.match(tensor)
        if layer:
            index = int(layer.group(1))
            info.layer_bytes[index] = info.layer_bytes.get(index, 0) + nbytes
            if _ROUTER.fullmatch(tensor):
                experts.add(index)
        else:
            info.other_bytes += nbytes
        info.parameter_count += elements
        info.tensor_types[type_name] = info.tensor_types.get(type_name, 0) + 1
    info.expert_layers = frozenset(experts)

    alignment = metadata.get("general.alignment", 32)
    if "general.alignment" in metadata and (
            types["general.alignment"] != GGUFValueType.UINT32 or alignment <= 0
            or alignment & (alignment - 1)):
        raise _Invalid(f"its general.alignment must be a power of two, not {_short(alignment)}")
    data_start = -(-cur.pos // alignment) * alignment
    if data_start + data_end > size:
        missing = data_start + data_end - size
        raise ModelFileError(f"{display_name(path)} is truncated: {missing:,} bytes of its "
                             "weights are missing. An interrupted download? Download it again.")
    return info


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_strings(info: GGUFInfo, key: str) -> list[bytes]:
    """The strings of a string array, as bytes, read again from the file: the header read skips
    long arrays, and only the checks before a load need every token."""
    offset = info.array_offsets.get(key)
    if offset is None or info.value_types.get(key) != (GGUFValueType.ARRAY, GGUFValueType.STRING):
        return []
    count = info.metadata[key]
    count = len(count) if isinstance(count, list) else count
    strings: list[bytes] = []
    append, u64 = strings.append, _U64
    with open(info.path, "rb") as fh, mmap.mmap(
            fh.fileno(), min(info.file_size, MAX_HEADER_BYTES), access=mmap.ACCESS_READ) as buf:
        pos = offset
        for _ in range(count):
            n = u64(buf, pos)[0]
            pos += 8
            append(buf[pos:pos + n])
            pos += n
    return strings


def split_parts(path: str | bytes | os.PathLike) -> list[Path]:
    """Every file of a model split with gguf-split (given its first part), else [path]."""
    path = _os_path(path)
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
        expert_layers=frozenset().union(*(i.expert_layers for i in infos)),
    )


def check_model(path: str | bytes | os.PathLike) -> GGUFInfo:
    """check_gguf over a whole model (every part of a split one, merged), and the checks of its
    vocabulary that only a load needs: run before every load."""
    path = _os_path(path)
    parts = split_parts(path)
    missing = [p for p in parts if not p.is_file()]
    if len(parts) > 1 and missing:
        raise ModelFileError(f"{display_name(path)} is one of {len(parts)} parts and "
                             f"{display_name(missing[0])} is missing.")
    info = merge_parts([check_gguf(p) for p in parts])
    try:
        tokens = read_strings(info, "tokenizer.ggml.tokens")
        problem = gguf_limits.problem_with_vocabulary(info, tokens)
    except (OSError, ValueError, struct.error) as exc:  # the file changed since the header read
        raise ModelFileError(f"{display_name(path)} cannot be read ({exc}).") from exc
    if problem:
        raise ModelFileError(f"{display_name(path)} cannot be loaded: {display_text(problem)}.")
    return info
