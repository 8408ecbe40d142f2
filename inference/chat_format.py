"""Render a conversation with the model's own Jinja chat template.

The template ships inside the GGUF (`tokenizer.chat_template`). We render it ourselves rather
than through llama-cpp-python's chat handlers because those cannot pass `reasoning_effort`,
and because the exact prompt text must be inspectable (`hearth render`).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

Message = Mapping[str, Any]  # {"role": ..., "content": ..., "thinking"?: ...}
EFFORTS = ("low", "medium", "high")

# Used when a GGUF carries no template: ChatML is what most small instruct models expect.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatTemplateError(ValueError):
    """The model's template rejected the conversation or is broken. The message says why."""


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False,
            separators=None, sort_keys: bool = False) -> str:
    # jinja's own tojson returns Markup and HTML-escapes '<', '>' and '&': wrong for prompts.
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii,
                      separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


@dataclass
class ChatTemplate:
    """A compiled chat template plus the special-token strings it may refer to."""

    source: str
    bos_token: str = ""
    eos_token: str = ""
    now: Callable[[], _dt.datetime] = field(default=_dt.datetime.now)

    def __post_init__(self) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            undefined=Undefined)
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: self.now().strftime(fmt)
        try:
            self._template = env.from_string(self.source)
        except TemplateError as exc:
            raise ChatTemplateError(f"The model's chat template does not compile: {exc}") from exc

    @property
    def is_harmony(self) -> bool:
        return "<|channel|>" in self.source

    def render(self, messages: Sequence[Message], *, effort: str = "medium",
               add_generation_prompt: bool = True, tools: list | None = None,
               **extra: Any) -> str:
        if effort not in EFFORTS:
            raise ValueError(f"reasoning effort must be one of {', '.join(EFFORTS)}, not {effort!r}")
        try:
            return self._template.render(
                messages=[dict(m) for m in messages],
                add_generation_prompt=add_generation_prompt,
                reasoning_effort=effort,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                tools=tools,
                **extra,
            )
        except ChatTemplateError:
            raise
        except TemplateError as exc:
            raise ChatTemplateError(f"The model's chat template failed: {exc}") from exc


__all__ = ["ChatTemplate", "ChatTemplateError", "CHATML_TEMPLATE", "EFFORTS"]
