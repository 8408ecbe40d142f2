"""The values in a GGUF header that llama.cpp would abort on, checked before it sees them.

llama.cpp reports most bad files as a load error, but some values reach a `GGML_ASSERT` (or an
uncaught C++ exception, or a null dereference) and take the whole process down with SIGABRT or
SIGSEGV: no Python code runs after that. Each check below names the spot in llama.cpp
(vendored in llama-cpp-python 0.3.36) and was seen to abort there with a file written by
tests/fixtures/hostile_gguf.py. Values llama.cpp refuses cleanly are left to it, except where
Hearth reads them first (the memory fit reads block counts and head counts).

Only keys that are present are checked: a missing required key is a clean llama.cpp error.
"""

from __future__ import annotations

from gguf.constants import GGUFValueType as T

from common.text import display_text

LLAMA_MAX_LAYERS = 512  # src/llama-hparams.h
LLAMA_MAX_EXPERTS = 1024
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")  # src/llama-model.cpp

_INTEGERS = {T.UINT8, T.INT8, T.UINT16, T.INT16, T.UINT32, T.INT32, T.UINT64, T.INT64}
_TEXT_KEYS = ("general.architecture", "general.name", "general.type", "tokenizer.ggml.model",
              "tokenizer.ggml.pre", "tokenizer.chat_template")
_NUMBER_KEYS = ("general.file_type",)
# {arch}.… keys Hearth or llama.cpp's common loader reads, and what each must hold.
_ARCH_NUMBERS = ("context_length", "embedding_length", "block_count", "vocab_size",
                 "attention.key_length", "attention.value_length", "attention.sliding_window",
                 "expert_count", "expert_group_count", "expert_group_used_count",
                 "nextn_predict_layers", "rope.dimension_count", "posnet.block_count",
                 "convnext.block_count")
_ARCH_PER_LAYER = ("attention.head_count", "attention.head_count_kv", "expert_used_count",
                   "feed_forward_length", "expert_feed_forward_length")
_ARCH_TEXT = ("rope.scaling.type",)


def _describe(vtype) -> str:
    if isinstance(vtype, tuple):
        return "a list"
    if vtype in _INTEGERS:
        return "a number"
    return {T.STRING: "text", T.BOOL: "true/false", T.FLOAT32: "a fraction",
            T.FLOAT64: "a fraction"}.get(vtype, "of an unknown type")


def _type_problem(info, key: str, want: str) -> str | None:
    """None if `key` is absent or holds `want`: "text", "number" or "numbers" (one per layer
    or one for all)."""
    vtype = info.value_types.get(key)
    if vtype is None:
        return None
    value = info.metadata[key]
    if want == "text" and vtype == T.STRING:
        return None
    if want in ("number", "numbers") and vtype in _INTEGERS:
        return None if value >= 0 else f"{key} is negative ({value:,})"
    if want == "numbers" and isinstance(vtype, tuple) and vtype[1] in _INTEGERS:
        if isinstance(value, list) and any(v < 0 for v in value):
            return f"{key} holds a negative number"
        return None
    wanted = {"text": "text", "number": "a whole number",
              "numbers": "a whole number or one per layer"}[want]
    return f"{key} should be {wanted} but is {_describe(vtype)}"


def problem_with_values(info) -> str | None:
    """What in `info`'s metadata would crash Hearth or abort llama.cpp, in a few words; None if
    nothing does."""
    for key in _TEXT_KEYS:
        problem = _type_problem(info, key, "text")
        if problem:
            return problem
    for key in _NUMBER_KEYS:
        problem = _type_problem(info, key, "number")
        if problem:
            return problem
    arch = info.architecture
    if not arch or arch == "clip":  # llama.cpp reads no hyperparameters for a projector
        return None
    for names, want in ((_ARCH_NUMBERS, "number"), (_ARCH_PER_LAYER, "numbers"),
                        (_ARCH_TEXT, "text")):
        for name in names:
            problem = _type_problem(info, f"{arch}.{name}", want)
            if problem:
                return problem
    return _hparams_problem(info, arch)


def _hparams_problem(info, arch: str) -> str | None:
    meta = info.metadata

    def number(name: str, default: int | None = None) -> int | None:
        return meta.get(f"{arch}.{name}", default)

    n_layer = number("block_count")
    if n_layer is None:
        return None  # llama.cpp says "key not found" itself
    if not 1 <= n_layer <= LLAMA_MAX_LAYERS:  # llama-model.cpp: GGML_ASSERT in load_hparams
        return (f"{arch}.block_count is {n_layer:,}; llama.cpp supports 1 to "
                f"{LLAMA_MAX_LAYERS} layers")

    def per_layer(name: str) -> list[int] | str | None:
        """A value for each layer, a problem, or None when absent."""
        value = meta.get(f"{arch}.{name}")
        if value is None:
            return None
        if isinstance(info.value_types[f"{arch}.{name}"], tuple):
            length = len(value) if isinstance(value, list) else value
            if length != n_layer:  # llama.cpp refuses this too, but after Hearth's fit reads it
                return f"{arch}.{name} has {length:,} values for {n_layer} layers"
            return value
        return [value] * n_layer

    nextn = number("nextn_predict_layers", 0)
    if nextn > n_layer:
        return f"{arch}.nextn_predict_layers ({nextn:,}) is more than its {n_layer} layers"
    if arch == "wavtokenizer-dec":
        for part in ("posnet", "convnext"):
            if number(f"{part}.block_count", 0) > n_layer:
                return f"{arch}.{part}.block_count is more than its {n_layer} layers"

    layers = {name: per_layer(name) for name in _ARCH_PER_LAYER}
    for value in layers.values():
        if isinstance(value, str):
            return value
    problem = _experts_problem(info, arch, n_layer, layers["expert_used_count"])
    if problem:
        return problem

    scaling = meta.get(f"{arch}.rope.scaling.type")
    if scaling is not None and scaling not in ROPE_SCALING_TYPES:
        return (f"{arch}.rope.scaling.type is {display_text(repr(scaling)[:40])}, not one of "
                f"{', '.join(ROPE_SCALING_TYPES)}")

    heads = layers["attention.head_count"] or [0] * n_layer
    kv_heads = layers["attention.head_count_kv"] or heads
    for layer, (n_head, n_kv) in enumerate(zip(heads, kv_heads)):
        # Grouped-query attention shares each key/value head among a whole number of query
        # heads: ggml_mul_mat asserts otherwise when the first prompt is evaluated.
        if n_kv > 0 and (n_head < n_kv or n_head % n_kv):
            return (f"layer {layer} has {n_head} attention heads for {n_kv} key/value heads "
                    "(it needs a whole number of heads per key/value head)")
    n_embd = number("embedding_length", 0)
    n_rot = number("rope.dimension_count")
    if n_rot is None:
        n_rot = number("attention.key_length")
    if n_rot is None and heads[0] > 0:
        n_rot = n_embd // heads[0]
    if n_rot and n_rot % 2:  # ggml's rope asserts an even number of dimensions
        return f"its rotary position embedding spans {n_rot} dimensions, an odd number"
    return None


def _experts_problem(info, arch: str, n_layer: int, used: list[int] | None) -> str | None:
    """llama-model.cpp's mixture-of-experts asserts in load_hparams, in their order."""
    meta = info.metadata
    n_expert = meta.get(f"{arch}.expert_count", 0)
    groups = meta.get(f"{arch}.expert_group_count", 0)
    group_used = meta.get(f"{arch}.expert_group_used_count", 0)
    used = used or [0] * n_layer
    if arch in ("hunyuan-dense", "hunyuan_vl") and n_expert <= 1:
        return None  # llama.cpp ignores these models' expert counts
    used_max = max(used)
    key = f"{arch}.expert_count"
    if n_expert > LLAMA_MAX_EXPERTS:
        return f"{key} is {n_expert:,}; llama.cpp supports at most {LLAMA_MAX_EXPERTS:,} experts"
    if used_max > n_expert:
        return (f"{arch}.expert_used_count ({used_max:,}) is more than its {n_expert:,} "
                "experts")
    if n_expert == 0:
        if groups:
            return f"{arch}.expert_group_count is {groups:,} in a model without experts"
        return None
    if used_max == 0:
        return f"{arch}.expert_used_count is 0: none of its {n_expert:,} experts would run"
    if groups >= n_expert:
        return f"{arch}.expert_group_count ({groups:,}) is not less than its {n_expert:,} experts"
    if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
        return (f"its {n_expert:,} experts in {groups:,} groups, {group_used:,} used, are not "
                "a valid grouping")
    for layer in sorted(info.expert_layers):
        if layer < n_layer and used[layer] == 0:  # the expert router then reads nothing: SIGSEGV
            return f"{arch}.expert_used_count is 0 for layer {layer}, which has experts"
    return None


def problem_with_vocabulary(info, tokens: list[bytes]) -> str | None:
    """The vocabulary checks that need every token (tens of ms for 200k tokens): run before a
    load, not in a scan. `tokens`: tokenizer.ggml.tokens as bytes."""
    if b"" in tokens:  # llama-vocab.cpp names an empty token after its id
        tokens = [t or f"[EMPTY_{i}]".encode() for i, t in enumerate(tokens)]
    seen = set(tokens)
    if len(seen) < len(tokens):  # llama-vocab.cpp asserts one id per token text
        once: set[bytes] = set()
        twice = next(t for t in tokens if t in once or once.add(t))
        shown = display_text(twice.decode("utf-8", errors="replace")[:40])
        return f"its vocabulary lists the token {shown!r} twice"
    if info.metadata.get("tokenizer.ggml.model") == "llama" and seen:
        # A SentencePiece vocabulary falls back to a token per byte for a character it has no
        # token for; llama-vocab.cpp's byte_to_token throws out of the C API (std::terminate)
        # if that byte's "<0xNN>" (or the byte itself) is missing. Only bytes UTF-8 text holds.
        for byte in (*range(0xC0), *range(0xC2, 0xF5)):
            if f"<0x{byte:02X}>".encode() not in seen and bytes([byte]) not in seen:
                return (f"its SentencePiece vocabulary has no token for the byte 0x{byte:02X}, "
                        "which llama.cpp needs for text outside its vocabulary")
    return None
