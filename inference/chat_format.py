"""Render a conversation with the model's own Jinja chat template.

The template ships inside the GGUF (`tokenizer.chat_template`). We render it ourselves rather
than through llama-cpp-python's chat handlers because those cannot pass `reasoning_effort`,
and because the exact prompt text must be inspectable (`hearth render`).
"""

from __future__ import annotations

from common.errors import UserError
from common.values import EFFORTS

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

Message = Mapping[str, Any]  # {"role": ..., "content": ..., "thinking"?: ...}

# Used when a GGUF carries no template: ChatML is what most small instruct models expect.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatTemplateError(UserError, ValueError):
    """The model's template rejected the conversation or is broken. The message says why."""


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False,
            separators=None, sort_keys: bool = False) -> str:
    # jinja's own tojson returns Markup and HTML-escapes '<', '>' and '&': wrong for prompts.
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii,
                      separators=separators, sort_keys=sort_keys)


# Appended to an answer being continued; the rendered text is cut where it lands.
_CONTINUE_MARK = "\x00hearth-continue\x00"


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
               now: _dt.datetime | None = None, continue_final: bool = False,
               **extra: Any) -> str:
        """The prompt text. `now`: the date the template writes (a re-run passes the original
        one). `continue_final`: the last message is a cut-off assistant answer, and the text
        stops where it stops, so generation continues it."""
        if effort not in EFFORTS:
            raise ValueError(f"reasoning effort must be one of {', '.join(EFFORTS)}, not {effort!r}")
        messages = [dict(m) for m in messages]
        if continue_final:
            if not messages or messages[-1].get("role") != "assistant":
                raise ValueError("only an assistant answer can be continued")
            messages[-1]["content"] = messages[-1].get("content", "") + _CONTINUE_MARK
            add_generation_prompt = False
        if now is not None:
            extra["strftime_now"] = lambda fmt: now.strftime(fmt)
        try:
            text = self._template.render(
                messages=messages,
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
        if continue_final:
            cut = text.rfind(_CONTINUE_MARK)
            if cut < 0:
                raise ChatTemplateError("This model's chat template cannot continue an answer.")
            text = text[:cut]
        return text


__all__ = ["ChatTemplate", "ChatTemplateError", "CHATML_TEMPLATE"]
