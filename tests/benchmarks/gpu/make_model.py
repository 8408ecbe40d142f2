"""Write a random-weight GGUF with gpt-oss-20b's exact shapes and tensor types.

    python make_model.py OUT.gguf [--layers 24]

Shapes follow ggml-org's gpt-oss-20b GGUF (the "mxfp4" file, 12.1 GB): 24 layers, d_model 2880,
64 query heads and 8 KV heads of 64, 32 experts (top 4) with d_ff 2880, a 201,088-token
vocabulary, sliding window 128 on alternate layers. Tensor types as there: MoE experts MXFP4,
attention projections, token embeddings and output Q8_0, norms, biases, sinks and the router F32.

The weights are random (nothing here is a trained model), drawn from one pool per type and laid
out so that every block's scale is sane: Q8_0 scales are one f16 value and MXFP4 exponents one
E8M0 byte, chosen so that weights have an RMS near 0.02, as the tests' tiny model. Speed depends
on shapes and types, not on values; routing still varies because each layer's router is drawn
apart. The output rows of the 1,090 special tokens (ids 199,998 and up, which include the
end-of-generation tokens) are zero, so a random model never stops early at temperature 1 or
greedy: their logit is 0 while the best of 200k normal tokens sits near +4.5.

The vocabulary is synthetic: 256 byte tokens, a few merges, unique filler tokens, and the harmony
control tokens at their o200k_harmony ids; the chat template is gpt-oss's. Only numpy and gguf
are imported (not llama_cpp), so this runs in its own process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gguf
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fixtures.tiny_models import CHAT_TEMPLATE_PATH, MERGES, _byte_tokens

N_VOCAB = 201_088
N_EMBD = 2880
N_LAYER = 24
N_HEAD = 64
N_HEAD_KV = 8
HEAD_DIM = 64
N_EXPERT = 32
N_EXPERT_USED = 4
N_FF_EXP = 2880
SLIDING_WINDOW = 128
CONTEXT_LENGTH = 131_072

# o200k_harmony's special tokens; the rest of 199,998..201,087 are <|reserved_N|>.
HARMONY_IDS = {
    199_998: "<|startoftext|>",
    199_999: "<|endoftext|>",
    200_002: "<|return|>",
    200_003: "<|constrain|>",
    200_005: "<|channel|>",
    200_006: "<|start|>",
    200_007: "<|end|>",
    200_008: "<|message|>",
    200_012: "<|call|>",
}
FIRST_SPECIAL = 199_998

Q8 = gguf.GGMLQuantizationType.Q8_0
MX = gguf.GGMLQuantizationType.MXFP4
Q8_BLOCK, Q8_BYTES = 32, 34  # f16 scale, then 32 int8
MX_BLOCK, MX_BYTES = 32, 17  # E8M0 exponent byte, then 32 packed e2m1 nibbles
Q8_SCALE = np.float16(0.02 / 73.9)  # uniform int8 has an RMS of ~73.9
MX_EXPONENT = 120  # scale 2**(120-128); the doubled e2m1 values have an RMS of ~5.85


def tokenizer(writer: gguf.GGUFWriter) -> None:
    tokens = _byte_tokens() + [a + b for a, b in MERGES]
    n_fixed = len(tokens)
    # Filler tokens: unique, made of characters that byte-level BPE maps back to bytes.
    tokens += [f"\u0120w{i}" for i in range(n_fixed, FIRST_SPECIAL)]
    tokens += [HARMONY_IDS.get(i, f"<|reserved_{i}|>") for i in range(FIRST_SPECIAL, N_VOCAB)]
    assert len(tokens) == N_VOCAB and len(set(tokens)) == N_VOCAB
    types = [gguf.TokenType.NORMAL] * FIRST_SPECIAL + [gguf.TokenType.CONTROL] * (N_VOCAB - FIRST_SPECIAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-4o")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{a} {b}" for a, b in MERGES])
    writer.add_bos_token_id(199_998)
    writer.add_eos_token_id(200_002)
    writer.add_pad_token_id(199_999)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE_PATH.read_text(encoding="utf-8"))


def hparams(writer: gguf.GGUFWriter, n_layer: int) -> None:
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(n_layer)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_sliding_window(SLIDING_WINDOW)
    writer.add_expert_feed_forward_length(N_FF_EXP)
    writer.add_expert_count(N_EXPERT)
    writer.add_expert_used_count(N_EXPERT_USED)
    writer.add_rope_freq_base(150000.0)
    writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    writer.add_rope_scaling_factor(32.0)
    writer.add_rope_scaling_orig_ctx_len(4096)


class Pool:
    """Random quantized blocks with valid scales; take() hands out contiguous, block-aligned
    slices of it as (rows, row_bytes) arrays, at a different offset each time."""

    def __init__(self, rng: np.random.Generator, n_blocks: int, block_bytes: int, block: int,
                 scale: bytes) -> None:
        self.data = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
        self.data[:, : len(scale)] = np.frombuffer(scale, dtype=np.uint8)
        self.block_bytes, self.block = block_bytes, block
        self.n_blocks = n_blocks
        self.cursor = 0

    def take(self, *shape: int) -> np.ndarray:
        """Blocks for a tensor of numpy shape `shape` (the last dimension in weights)."""
        *lead, cols = shape
        blocks = int(np.prod(lead)) * (cols // self.block)
        assert blocks <= self.n_blocks
        if self.cursor + blocks > self.n_blocks:
            self.cursor = 0
        start = self.cursor
        self.cursor += blocks // 3 + 7919  # the next tensor overlaps this one at a shifted place
        flat = self.data[start:start + blocks].reshape(-1)
        return flat.reshape(*lead, (cols // self.block) * self.block_bytes)


def write(path: Path, n_layer: int = N_LAYER, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    q8 = Pool(rng, N_VOCAB * (N_EMBD // Q8_BLOCK), Q8_BYTES, Q8_BLOCK, Q8_SCALE.tobytes())
    mx = Pool(rng, 2 * N_EXPERT * N_FF_EXP * (N_EMBD // MX_BLOCK), MX_BYTES, MX_BLOCK,
              bytes([MX_EXPONENT]))

    def f32(*shape: int, std: float = 0.02) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    writer = gguf.GGUFWriter(path, arch="gpt-oss")
    writer.add_name("gpt-oss-20b-shaped (random weights)")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_MXFP4_MOE)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    hparams(writer, n_layer)
    tokenizer(writer)

    output = q8.take(N_VOCAB, N_EMBD).copy()
    output[FIRST_SPECIAL:] = 0  # scale 0: special tokens get logit 0 (see the docstring)
    writer.add_tensor("token_embd.weight", q8.take(N_VOCAB, N_EMBD), raw_dtype=Q8)
    writer.add_tensor("output_norm.weight", ones(N_EMBD))
    writer.add_tensor("output.weight", output, raw_dtype=Q8)
    q_dim, kv_dim = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
    for i in range(n_layer):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", ones(N_EMBD))
        writer.add_tensor(b + "post_attention_norm.weight", ones(N_EMBD))
        writer.add_tensor(b + "attn_q.weight", q8.take(q_dim, N_EMBD), raw_dtype=Q8)
        writer.add_tensor(b + "attn_q.bias", f32(q_dim))
        writer.add_tensor(b + "attn_k.weight", q8.take(kv_dim, N_EMBD), raw_dtype=Q8)
        writer.add_tensor(b + "attn_k.bias", f32(kv_dim))
        writer.add_tensor(b + "attn_v.weight", q8.take(kv_dim, N_EMBD), raw_dtype=Q8)
        writer.add_tensor(b + "attn_v.bias", f32(kv_dim))
        writer.add_tensor(b + "attn_output.weight", q8.take(N_EMBD, q_dim), raw_dtype=Q8)
        writer.add_tensor(b + "attn_output.bias", f32(N_EMBD))
        writer.add_tensor(b + "attn_sinks.weight", f32(N_HEAD))
        writer.add_tensor(b + "ffn_gate_inp.weight", f32(N_EXPERT, N_EMBD))
        writer.add_tensor(b + "ffn_gate_inp.bias", f32(N_EXPERT))
        writer.add_tensor(b + "ffn_gate_exps.bias", f32(N_EXPERT, N_FF_EXP))
        writer.add_tensor(b + "ffn_up_exps.bias", f32(N_EXPERT, N_FF_EXP))
        writer.add_tensor(b + "ffn_down_exps.bias", f32(N_EXPERT, N_EMBD))
        writer.add_tensor(b + "ffn_gate_exps.weight", mx.take(N_EXPERT, N_FF_EXP, N_EMBD), raw_dtype=MX)
        writer.add_tensor(b + "ffn_up_exps.weight", mx.take(N_EXPERT, N_FF_EXP, N_EMBD), raw_dtype=MX)
        writer.add_tensor(b + "ffn_down_exps.weight", mx.take(N_EXPERT, N_EMBD, N_FF_EXP), raw_dtype=MX)
    t1 = time.perf_counter()
    tmp = path.with_suffix(".partial")
    writer.write_header_to_file(tmp)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.rename(path)
    t2 = time.perf_counter()
    size = path.stat().st_size
    print(f"{path}: {size / 1e9:.2f} GB, {n_layer} layers; weights drawn in {t1 - t0:.1f} s, "
          f"written in {t2 - t1:.1f} s ({size / 1e9 / (t2 - t1):.2f} GB/s)", flush=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=N_LAYER)
    args = ap.parse_args()
    write(args.out, args.layers)


if __name__ == "__main__":
    main()
