"""Where a model's sampling settings come from, each value with its source.

In order, per value: the person's own (this model's settings, then the Settings dialog's),
the GGUF's recommended keys (`general.sampling.*`, written by current llama.cpp conversions),
the model card of a known family (FAMILIES below, each with where its values are written),
llama.cpp's own defaults. Every model used to get gpt-oss's 1.0 / 1.0, which makes a small
model like SmolLM2 answer "What is 2+2?" with noise.

Qt-free and storage-free: model_library reads a file's traits once, requests composes them
with the person's settings on every turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from inference.sampling import Sampling

# The labels the Info popover and the model manager show for where a value came from.
YOURS = "yours"
FILE = "file"
CARD = "model card"
LLAMA_CPP = "llama.cpp default"
PRESET = "preset"
COMMAND_LINE = "command line"

FIELDS = ("temperature", "top_p", "top_k", "min_p")
_TYPES = {"temperature": float, "top_p": float, "top_k": int, "min_p": float}

# llama.cpp's own defaults: `common_params_sampling` in llama.cpp's common/common.h
# (temp 0.80, top_k 40, top_p 0.95, min_p 0.05), what llama-cli and llama-server use when
# nothing else is said.
LLAMA_CPP_DEFAULTS = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05}

# The GGUF keys (gguf-py's Keys.General.SAMPLING_*), and the field each one sets.
FILE_KEYS = {"general.sampling.temp": "temperature", "general.sampling.top_p": "top_p",
             "general.sampling.top_k": "top_k", "general.sampling.min_p": "min_p"}


def _card(temperature: float, top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0) -> dict:
    """A model card's recommendation as a complete set: what the card does not name is off
    (the makers' reference runs apply no other truncation), not llama.cpp's 40 / 0.05."""
    return {"temperature": temperature, "top_p": top_p, "top_k": top_k, "min_p": min_p}


@dataclass(frozen=True)
class Family:
    """Models one model card speaks for, recognised by architecture or by name."""

    name: str
    values: dict
    source: str  # where the values are written, for people checking them
    architectures: tuple[str, ...] = ()
    name_pattern: str | None = None  # searched in the file's name and its general.name/basename
    no_thinking: dict | None = None  # another recommendation with thinking switched off

    def matches(self, architecture: str, names: str) -> bool:
        if architecture in self.architectures:
            return True
        return self.name_pattern is not None and re.search(self.name_pattern, names) is not None


FAMILIES: tuple[Family, ...] = (
    Family("gpt-oss", _card(1.0, 1.0),
           "github.com/openai/gpt-oss README, 'Recommended Sampling Parameters': "
           "temperature=1.0 and top_p=1.0",
           architectures=("gpt-oss",)),
    Family("SmolLM2", _card(0.2, 0.9),
           "huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct model card, 'How to use': "
           "model.generate(..., temperature=0.2, top_p=0.9, do_sample=True)",
           name_pattern=r"smollm2"),
    Family("Qwen3", _card(0.6, 0.95, 20, 0.0),
           "huggingface.co/Qwen/Qwen3-8B model card, 'Best Practices': thinking mode "
           "Temperature=0.6, TopP=0.95, TopK=20, MinP=0; non-thinking mode Temperature=0.7, "
           "TopP=0.8, TopK=20, MinP=0",
           architectures=("qwen3", "qwen3moe"), no_thinking=_card(0.7, 0.8, 20, 0.0)),
    Family("Llama 3", _card(0.6, 0.9),
           "generation_config.json of meta-llama/Llama-3.1-8B-Instruct (and Llama-3-8B, "
           "3.2, 3.3 Instruct): temperature 0.6, top_p 0.9",
           name_pattern=r"llama[\s_-]*3(?!\d)"),
    Family("Gemma 3", _card(1.0, 0.95, 64, 0.0),
           "generation_config.json of google/gemma-3-*-it: top_k 64, top_p 0.95, sampled at "
           "temperature 1.0 (the Gemma team's recommendation: 1.0, 64, 0.95, min_p 0)",
           architectures=("gemma3",)),
    Family("Mistral Small 3", _card(0.15),
           "huggingface.co/mistralai/Mistral-Small-24B-Instruct-2501 (and 3.1, 3.2) model "
           "card: 'We recommend using a relatively low temperature, such as temperature=0.15'",
           name_pattern=r"mistral[\s_-]*small"),
    Family("Mistral Nemo", _card(0.3),
           "huggingface.co/mistralai/Mistral-Nemo-Instruct-2407 model card: 'Mistral Nemo "
           "requires smaller temperatures. We recommend to use a temperature of 0.3'",
           name_pattern=r"mistral[\s_-]*nemo"),
)

# Reasoning, as the chat template allows it: an effort (gpt-oss's harmony), a <think> switch
# (the template reads `enable_thinking`, as Qwen3's does), <think> always, or none.
EFFORT, SWITCH, ALWAYS, NONE = "effort", "switch", "always", "none"


def reasoning_kind(template: str | None) -> str:
    template = template or ""
    if "<|channel|>" in template:
        return EFFORT
    if "enable_thinking" in template:
        return SWITCH
    if "<think>" in template:
        return ALWAYS
    return NONE


@dataclass(frozen=True)
class ModelTraits:
    """What a model file says about its own sampling and reasoning, read from its header."""

    family: Family | None = None
    file_values: dict = field(default_factory=dict)  # general.sampling.* found in the file
    reasoning: str = NONE
    thinks_by_default: bool = False  # with no choice made: does it think (Qwen3: yes)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], file_name: str = "") -> ModelTraits:
        architecture = str(metadata.get("general.architecture") or "")
        names = " ".join(str(metadata.get(k) or "") for k in ("general.name", "general.basename",
                                                             "general.finetune"))
        names = f"{names} {file_name}".lower()
        family = next((f for f in FAMILIES if f.matches(architecture, names)), None)
        template = metadata.get("tokenizer.chat_template")
        kind = reasoning_kind(template if isinstance(template, str) else None)
        # Qwen3-Instruct-2507 is the non-thinking release: its card gives the non-thinking set.
        thinks = kind in (SWITCH, ALWAYS) and "instruct-2507" not in names
        return cls(family, _file_values(metadata), kind, thinks)


def _file_values(metadata: Mapping[str, Any]) -> dict:
    """The file's recommended values that are numbers in range; anything else is ignored
    (a hand-edited header must not make every answer fail)."""
    found = {}
    for key, name in FILE_KEYS.items():
        value = metadata.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        value = _TYPES[name](value)
        if _in_range(name, value):
            found[name] = round(value, 4) if isinstance(value, float) else value
    return found


def _in_range(name: str, value: float) -> bool:
    if value != value:  # NaN
        return False
    return {"temperature": 0.0 <= value <= 5.0, "top_p": 0.0 < value <= 1.0,
            "top_k": 0 <= value <= 100_000, "min_p": 0.0 <= value <= 1.0}[name]


@dataclass(frozen=True)
class Resolved:
    """The four sampling values and, for each, where it came from."""

    values: dict
    sources: dict
    family: str | None = None

    def sampling(self, **extra) -> Sampling:
        return Sampling(**self.values, **extra)

    def with_value(self, name: str, value, source: str) -> Resolved:
        return Resolved({**self.values, name: value}, {**self.sources, name: source}, self.family)


def resolve(mine: Mapping[str, Any], traits: ModelTraits | None,
            thinking: bool | None = None) -> Resolved:
    """Each of FIELDS from the first layer that has it: `mine` (the person's values, None
    where they chose none), the file's keys, the family's card, llama.cpp's defaults.
    `thinking`: the <think> switch's position (None: the model's default), which picks
    between a card's two sets."""
    traits = traits or ModelTraits()
    card = None
    if traits.family is not None:
        thinks = traits.thinks_by_default if thinking is None else thinking
        card = traits.family.values
        if not thinks and traits.family.no_thinking is not None:
            card = traits.family.no_thinking
    values, sources = {}, {}
    for name in FIELDS:
        for layer, source in ((mine, YOURS), (traits.file_values, FILE), (card, CARD),
                              (LLAMA_CPP_DEFAULTS, LLAMA_CPP)):
            if layer is not None and layer.get(name) is not None:
                values[name], sources[name] = _TYPES[name](layer[name]), source
                break
    return Resolved(values, sources, traits.family.name if traits.family else None)


def describe_sources(sources: Mapping[str, str], family: str | None = None) -> str:
    """"model card (SmolLM2)", "yours; top-k, min-p: llama.cpp default": where a set of
    values came from, in words, grouped by source."""
    groups: dict[str, list[str]] = {}
    for name in FIELDS:
        if name in sources:
            groups.setdefault(sources[name], []).append(name)
    labels = {"temperature": "temperature", "top_p": "top-p", "top_k": "top-k", "min_p": "min-p"}

    def label(source: str) -> str:
        return f"{source} ({family})" if source == CARD and family else source

    if len(groups) == 1:
        return label(next(iter(groups)))
    return "; ".join(f"{', '.join(labels[n] for n in names)}: {label(source)}"
                     for source, names in groups.items())


__all__ = ["FAMILIES", "Family", "ModelTraits", "Resolved", "resolve", "reasoning_kind",
           "describe_sources", "LLAMA_CPP_DEFAULTS", "YOURS", "FILE", "CARD", "LLAMA_CPP",
           "PRESET", "COMMAND_LINE", "EFFORT", "SWITCH", "ALWAYS", "NONE"]
