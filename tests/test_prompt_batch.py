"""The prompt batch size chosen at load (inference/load_options.py plan_memory): 2,048 tokens on
a GPU with room for the bigger compute buffer, 512 on a CPU or where the GPU would then hold
fewer layers; an explicit LoadOptions.n_batch always wins."""

from __future__ import annotations

from inference.gguf_file import check_model
from inference.load_options import plan_memory
from inference.models.fit import ModelShape, estimate
from inference.models.hardware import GPU, Machine
from inference.runtime import Engine, LoadOptions

GB = 10**9


def card(budget: int) -> Machine:
    return Machine(64 * GB, 60 * GB, "cuda", (GPU("card", 141 * GB, budget),), gpu_budget=budget)


def test_a_gpu_with_room_gets_the_big_batch_a_cpu_the_small_one(tiny_gpt_oss):
    info = check_model(tiny_gpt_oss)
    cpu = Machine(64 * GB, 60 * GB, "cpu")
    assert plan_memory(info, LoadOptions(), card(140 * GB))[1] == 2048
    assert plan_memory(info, LoadOptions(), cpu)[1] == 512
    assert plan_memory(info, LoadOptions(n_batch=1024), card(140 * GB))[1] == 1024
    assert plan_memory(info, LoadOptions(n_gpu_layers=0), card(140 * GB))[1] == 512


def test_a_gpu_that_would_lose_layers_to_the_big_batch_keeps_the_small_one(tiny_gpt_oss):
    info = check_model(tiny_gpt_oss)
    shape = ModelShape.from_gguf(info)
    # The smallest card that holds every layer with a 512-token batch.
    budget = next(b for b in range(2**20, 2**30, 2**16)
                  if estimate(shape, 4096, card(b), n_ubatch=512).all_on_gpu)
    assert not estimate(shape, 4096, card(budget), n_ubatch=2048).all_on_gpu
    fit, n_batch = plan_memory(info, LoadOptions(), card(budget))
    assert n_batch == 512 and fit.all_on_gpu


def test_the_engine_reports_the_batch_it_chose(tiny_gpt_oss):
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=1024)) as engine:  # this CPU build: 512
        assert engine.n_batch == 512
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=1024, n_batch=64)) as engine:
        assert engine.n_batch == 64
