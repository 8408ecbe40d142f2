"""The memory estimate: gpt-oss-20b's known shapes, placement on the GPU, and the verdicts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from inference.gguf_file import check_gguf
from inference.models.catalog import GPT_OSS_20B
from inference.models.fit import ModelShape, Verdict, estimate
from inference.models.hardware import GPU, Machine, probe
from inference.runtime import Engine, LoadOptions, ModelTooLargeError

GB = 10**9
BIG_CPU = Machine(ram_total=64 * GB, ram_available=60 * GB, backend="cpu")


def test_gpt_oss_20b_at_16k_needs_about_13_gb():
    fit = estimate(GPT_OSS_20B.shape, 16384, BIG_CPU)
    # 24 layers × 16,384 cells × 8 KV heads × (64 + 64) dims × 2 bytes, swa_full on.
    assert fit.kv_cache == 805_306_368
    assert fit.weights == pytest.approx(12.1 * GB, rel=0.01)
    assert 12.8 * GB < fit.total < 13.8 * GB
    assert fit.verdict is Verdict.FITS and fit.gpu_layers == 0


def test_without_a_full_size_window_cache_the_sliding_layers_cost_little():
    full = estimate(GPT_OSS_20B.shape, 131072, BIG_CPU)
    windowed = estimate(GPT_OSS_20B.shape, 131072, BIG_CPU, swa_full=False)
    # 12 sliding layers keep 128 + 512 cells instead of 131,072.
    assert full.kv_cache - windowed.kv_cache == 12 * (131072 - 640) * 8 * 128 * 2
    assert full.kv_cache == pytest.approx(6.44 * GB, rel=0.01)


def test_an_h100_takes_every_layer():
    h100 = Machine(128 * GB, 120 * GB, "cuda", (GPU("H100", 80 * GB, 79 * GB),), gpu_budget=79 * GB)
    fit = estimate(GPT_OSS_20B.shape, 16384, h100)
    assert fit.all_on_gpu and fit.n_gpu_layers == -1
    assert fit.ram_bytes < 1 * GB  # only the token embeddings stay behind
    assert "all on the GPU" in fit.reason


def test_a_small_gpu_takes_the_last_layers_and_ram_holds_the_rest():
    card = Machine(32 * GB, 28 * GB, "cuda", (GPU("RTX 4060", 8 * GB, 7.5 * GB),), gpu_budget=7.5 * GB)
    fit = estimate(GPT_OSS_20B.shape, 16384, card)
    assert 0 < fit.gpu_layers < 24 and not fit.all_on_gpu
    assert fit.gpu_bytes <= 0.95 * 7.5 * GB
    assert fit.gpu_bytes + fit.ram_bytes == fit.total
    assert fit.verdict is Verdict.FITS and f"{fit.gpu_layers} of 24 layers" in fit.reason
    # More context, less room for layers.
    assert estimate(GPT_OSS_20B.shape, 65536, card).gpu_layers < fit.gpu_layers


def test_a_16_gb_mac_is_refused_at_16k_but_not_at_a_small_context():
    mac = Machine(16 * 2**30, 11 * GB, "metal", unified=True, gpu_budget=int(16 * 2**30 * 2 / 3))
    fit = estimate(GPT_OSS_20B.shape, 16384, mac)
    assert fit.verdict is Verdict.WONT_FIT
    assert "swap" in fit.reason and "11.0 GB" in fit.reason
    roomier = replace(mac, ram_available=14 * GB)
    assert estimate(GPT_OSS_20B.shape, 4096, roomier).verdict is Verdict.TIGHT


def test_shapes_come_from_the_gguf_header(tiny_gpt_oss, smollm2_path):
    info = check_gguf(tiny_gpt_oss)
    shape = ModelShape.from_gguf(info)
    meta = info.metadata
    assert shape.n_layers == meta["gpt-oss.block_count"] == len(shape.layer_bytes)
    assert shape.n_head_kv == meta["gpt-oss.attention.head_count_kv"]
    assert shape.sliding_window == meta["gpt-oss.attention.sliding_window"]
    assert shape.swa_layers == shape.n_layers // 2
    assert shape.n_vocab == meta["tokenizer.ggml.tokens"]
    # Every tensor byte is counted: weights plus header equal the file.
    assert 0 < info.file_size - shape.weight_bytes < 1_000_000

    smol = ModelShape.from_gguf(check_gguf(smollm2_path))
    assert (smol.n_layers, smol.n_embd, smol.n_head_kv, smol.key_length) == (30, 576, 3, 64)
    assert smol.swa_layers == 0 and smol.n_vocab == 49152


def test_the_engine_refuses_a_load_that_would_swap_unless_told(tiny_gpt_oss, monkeypatch):
    import inference.runtime as runtime

    real = probe()
    monkeypatch.setattr(runtime, "probe", lambda: replace(real, ram_available=1_000_000))
    with pytest.raises(ModelTooLargeError, match="push the machine into swap") as refused:
        Engine(tiny_gpt_oss, LoadOptions(n_ctx=512))
    assert refused.value.fit.verdict is Verdict.WONT_FIT
    engine = Engine(tiny_gpt_oss, LoadOptions(n_ctx=512, allow_swap=True))
    try:
        assert engine.n_ctx == 512 and engine.fit.verdict is Verdict.WONT_FIT
    finally:
        engine.close()


def test_this_machine_is_probed_with_real_figures():
    import psutil

    machine = probe()
    assert machine.ram_total == psutil.virtual_memory().total
    assert 0 < machine.ram_available < machine.ram_total
    assert machine.backend in ("cpu", "cuda", "metal", "gpu")
    assert (machine.gpu_budget > 0) == (machine.backend in ("cuda", "metal"))


def test_a_gpu_of_unknown_memory_gets_every_layer_and_only_ram_is_judged():
    other = Machine(32 * GB, 28 * GB, "gpu")  # an AMD or Intel build: offload, no NVML
    fit = estimate(GPT_OSS_20B.shape, 16384, other)
    assert fit.all_on_gpu and fit.n_gpu_layers == -1 and fit.verdict is Verdict.FITS


def test_recurrent_and_hybrid_layers_hold_no_kv_cache():
    mamba = replace(GPT_OSS_20B.shape, n_head_kv=0, swa_layers=0)
    assert estimate(mamba, 131072, BIG_CPU).kv_cache == 0
    # A hybrid: attention in one layer of four, recurrent state elsewhere.
    hybrid = replace(GPT_OSS_20B.shape, n_head_kv=tuple(8 if i % 4 == 0 else 0 for i in range(24)),
                     swa_layers=0)
    full = estimate(replace(GPT_OSS_20B.shape, swa_layers=0), 16384, BIG_CPU)
    assert estimate(hybrid, 16384, BIG_CPU).kv_cache * 4 == full.kv_cache
