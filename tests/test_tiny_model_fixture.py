"""The tiny gpt-oss GGUF must look like gpt-oss to real llama.cpp."""

from __future__ import annotations

import itertools
import re

import gguf
import llama_cpp
import numpy as np
import pytest
from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from fixtures.tiny_models import (
    HARMONY_GRAMMAR,
    N_VOCAB,
    SLIDING_WINDOW,
    SPECIAL_TOKEN_IDS,
    SPECIAL_TOKENS,
    write_tiny_gpt_oss,
)

HARMONY_REPLY = re.compile(
    r"<\|channel\|>analysis<\|message\|>[a-z]+( [a-z]+)*<\|end\|>"
    r"<\|start\|>assistant<\|channel\|>final<\|message\|>[a-z]+( [a-z]+)*"
)


@pytest.fixture(scope="module")
def llm(tiny_gpt_oss):
    model = Llama(model_path=str(tiny_gpt_oss), n_ctx=1024, verbose=False)
    yield model
    model.close()


@pytest.fixture(scope="module")
def harmony_grammar(llm) -> LlamaGrammar:
    # Llama hands an unparsable grammar to llama.cpp unchecked and segfaults, so parse
    # it here first: the C API returns NULL instead of crashing.
    sampler = llama_cpp.llama_sampler_init_grammar(
        llama_cpp.llama_model_get_vocab(llm.model), HARMONY_GRAMMAR.encode(), b"root"
    )
    if not sampler:
        pytest.fail("HARMONY_GRAMMAR does not parse against the tiny vocabulary")
    llama_cpp.llama_sampler_free(sampler)
    return LlamaGrammar.from_string(HARMONY_GRAMMAR)


def test_file_is_tiny(tiny_gpt_oss):
    assert tiny_gpt_oss.stat().st_size < 1_000_000


def test_loads_as_gpt_oss(llm):
    assert llm.metadata["general.architecture"] == "gpt-oss"
    assert llm.n_vocab() == N_VOCAB
    assert llm.token_eos() == SPECIAL_TOKEN_IDS["<|return|>"]


@pytest.mark.parametrize("text", SPECIAL_TOKENS)
def test_special_token_round_trips(llm, text):
    tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
    assert tokens == [SPECIAL_TOKEN_IDS[text]]
    assert llm.detokenize(tokens, special=True) == text.encode()


def test_end_of_generation_tokens(llm):
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    eog = {
        text for text, id_ in SPECIAL_TOKEN_IDS.items() if llama_cpp.llama_vocab_is_eog(vocab, id_)
    }
    # llama.cpp drops <|end|> from EOG once <|return|> and <|call|> exist: in harmony it
    # only closes a message, and the reply goes on.
    assert eog == {"<|return|>", "<|call|>", "<|endoftext|>"}


def test_grammar_forces_a_harmony_reply_that_ends_itself(llm, harmony_grammar):
    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token="<|return|>",
        bos_token="<|startoftext|>",
    )
    prompt = formatter(messages=[{"role": "user", "content": "hi"}]).prompt
    assert prompt.endswith("<|start|>assistant")

    out = llm.create_completion(prompt, max_tokens=200, temperature=0.0, grammar=harmony_grammar)

    assert HARMONY_REPLY.fullmatch(out["choices"][0]["text"])
    assert out["choices"][0]["finish_reason"] == "stop"
    # The system prompt alone outgrows the sliding window, so SWA layers really masked.
    assert out["usage"]["prompt_tokens"] > SLIDING_WINDOW


def test_mxfp4_experts_load_and_generate(tmp_path):
    path = write_tiny_gpt_oss(tmp_path / "tiny-mxfp4.gguf", expert_type="mxfp4")
    types = {tensor.name: tensor.tensor_type for tensor in gguf.GGUFReader(path).tensors}
    assert types["blk.0.ffn_up_exps.weight"] == gguf.GGMLQuantizationType.MXFP4

    llm = Llama(model_path=str(path), n_ctx=256, verbose=False)
    prompt = llm.tokenize(
        b"<|start|>user<|message|>hi<|end|><|start|>assistant", add_bos=False, special=True
    )
    generated = list(itertools.islice(llm.generate(prompt, temp=0.0), 4))

    assert len(generated) == 4 and all(0 <= token < N_VOCAB for token in generated)
    # The logits of a position just evaluated, read from that evaluation: llama-cpp-python's
    # score rows are uninitialised memory until written, and islice stops generate() between
    # a yield and the evaluation that would have filled the next row.
    llm.reset()
    llm.eval(prompt)
    assert np.isfinite(llm.scores[len(prompt) - 1]).all()
    llm.close()
