"""Render a conversation with the model's own Jinja chat template.

The template ships inside the GGUF (`tokenizer.chat_template`). We render it ourselves rather
than through llama-cpp-python's chat handlers because those cannot pass `reasoning_effort`,
and because the exact prompt text must be inspectable (`hearth render`).

The template is untrusted code (anyone can publish a GGUF), so it compiles and renders under a
budget: about 2 s, a few MB of text (more for a longer conversation), 256 MB of memory, and a
cancel event for Stop (template_sandbox.py, interrupt.py). Past it: TemplateLimitError, one
line, in the calling thread — no subprocess, so an honest render stays well under a
millisecond. `model_template` falls back to ChatML when a model's template is broken.
"""

from __future__ import annotations

from common.errors import UserError
from common.units import format_bytes
from common.values import EFFORTS

import datetime as _dt
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from jinja2 import TemplateError, Undefined

from .interrupt import Guard, Stopped, guarded
from .template_limits import MAX_DEPTH, LimitExceeded, Limits, weight
from .template_sandbox import BoundedEnvironment, render_template

Message = Mapping[str, Any]  # {"role": ..., "content": ..., "thinking"?: ...}

# Used when a GGUF carries no template: ChatML is what most small instruct models expect.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# An honest template renders a conversation in about a millisecond (gpt-oss's: 0.4 ms for 50
# messages); these bounds are a thousand times that and more, so only a broken or hostile
# template (one shipped inside a downloaded GGUF) ever meets them.
RENDER_BUDGET_S = 2.0
COMPILE_BUDGET_S = 5.0
MAX_TEMPLATE_CHARS = 512_000  # real templates are 1-30 kB
# Any value the template makes, and its whole output: this much plus four times the size of
# the conversation it was given (a rendered prompt is the conversation plus its framing).
BASE_CHARS = 2_000_000
CHARS_PER_INPUT_CHAR = 4
# How much the process may grow while a template runs, plus 32 bytes per input character.
MEMORY_BASE = 256_000_000
_MAX_MESSAGE = 500  # characters of a template's own error message shown


class ChatTemplateError(UserError, ValueError):
    """The model's template rejected the conversation or is broken. The message says why."""


class TemplateLimitError(ChatTemplateError):
    """The template ran past a time, size or memory bound: it is broken or hostile."""


class TemplateCompileError(ChatTemplateError):
    """The template is not valid Jinja."""


class RenderCancelled(ChatTemplateError):
    """The cancel event was set while the template was rendering."""


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False,
            separators=None, sort_keys: bool = False) -> str:
    # jinja's own tojson returns Markup and HTML-escapes '<', '>' and '&': wrong for prompts.
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii,
                      separators=separators, sort_keys=sort_keys)


# Appended to an answer being continued; the rendered text is cut where it lands.
_CONTINUE_MARK = "\x00hearth-continue\x00"


def _one_line(text: Any) -> str:
    text = re.sub(r"\s+", " ", str(text)[:_MAX_MESSAGE * 2]).strip()
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 1] + "…"


def _raise_exception(message: Any) -> None:
    raise ChatTemplateError(_one_line(message))


def _strftime_now(clock: Callable[[], _dt.datetime]) -> Callable[[str], str]:
    def strftime_now(fmt: str) -> str:
        return clock().strftime(str(fmt)[:200])
    return strftime_now


def _stopped(exc: Stopped, budget_s: float, memory_limit: int, action: str) -> ChatTemplateError:
    if exc.reason == "cancelled":
        return RenderCancelled("Stopped while the model's chat template was rendering.")
    if exc.reason == "memory":
        return TemplateLimitError(f"The model's chat template used more than "
                                  f"{format_bytes(memory_limit)} of memory while {action}.")
    return TemplateLimitError(f"The model's chat template did not finish {action} within "
                              f"{budget_s:g} s (an endless loop?).")


def _run(work: Callable[[Limits], Any], *, budget_s: float,
         cancel: threading.Event | None, max_chars: int, memory_limit: int, action: str,
         failure: str, error: type[ChatTemplateError] = ChatTemplateError,
         memo: dict | None = None) -> Any:
    """`work` under a watchdog and the sandbox's limits; every failure a ChatTemplateError."""
    guard = Guard(time.monotonic() + budget_s, cancel, memory_limit)
    try:
        return guarded(lambda g: work(Limits(max_chars, g, memo)), guard)
    except Stopped as exc:
        raise _stopped(exc, budget_s, memory_limit, action) from None
    except LimitExceeded as exc:
        raise TemplateLimitError(str(exc)) from None
    except ChatTemplateError:
        raise
    except RecursionError:
        raise TemplateLimitError("The model's chat template recurses too deeply.") from None
    except MemoryError:
        raise TemplateLimitError(f"The model's chat template ran out of memory while {action}.") from None
    except TemplateError as exc:
        raise error(f"{failure}: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a template can raise anything Python can
        raise error(f"{failure}: {type(exc).__name__}: {_one_line(exc)}") from None


@dataclass
class ChatTemplate:
    """A compiled chat template plus the special-token strings it may refer to.

    Compiling and rendering run in the calling thread under a time, size and memory budget
    (`budget_s`; see template_sandbox.py): a template past it raises TemplateLimitError.
    """

    source: str
    bos_token: str = ""
    eos_token: str = ""
    now: Callable[[], _dt.datetime] = field(default=_dt.datetime.now)
    budget_s: float = RENDER_BUDGET_S
    lazy: bool = False  # compile at the first render, not now

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # one render at a time: the environment holds its limits
        self._env = BoundedEnvironment(
            trim_blocks=True, lstrip_blocks=True, undefined=Undefined, filters={"tojson": _tojson},
            globals={"raise_exception": _raise_exception, "strftime_now": _strftime_now(self.now)})
        self._compiled = None
        if not self.lazy:
            self._compile()

    def _compile(self):
        if self._compiled is not None:
            return self._compiled
        if len(self.source) > MAX_TEMPLATE_CHARS:
            raise TemplateLimitError(
                f"The model's chat template is {len(self.source):,} characters long; more than "
                f"{MAX_TEMPLATE_CHARS:,} is not a chat template.")
        env = self._env

        def compile_(limits: Limits):
            env.activate(limits)  # filters with constant arguments run at compile time
            try:
                return env.from_string(self.source)
            finally:
                env.activate(None)

        self._compiled = _run(compile_, budget_s=COMPILE_BUDGET_S, cancel=None,
                              max_chars=BASE_CHARS, memory_limit=MEMORY_BASE,
                              action="compiling",
                              failure="The model's chat template does not compile",
                              error=TemplateCompileError)
        return self._compiled

    @property
    def is_harmony(self) -> bool:
        return "<|channel|>" in self.source

    def render(self, messages: Sequence[Message], *, effort: str = "medium",
               add_generation_prompt: bool = True, tools: list | None = None,
               now: _dt.datetime | None = None, continue_final: bool = False,
               cancel: threading.Event | None = None, **extra: Any) -> str:
        """The prompt text. `now`: the date the template writes (a re-run passes the original
        one). `continue_final`: the last message is a cut-off assistant answer, and the text
        stops where it stops, so generation continues it. `cancel`: set from another thread,
        it stops the render (RenderCancelled)."""
        if effort not in EFFORTS:
            raise ValueError(f"reasoning effort must be one of {', '.join(EFFORTS)}, not {effort!r}")
        messages = [dict(m) for m in messages]
        if continue_final:
            if not messages or messages[-1].get("role") != "assistant":
                raise ValueError("only an assistant answer can be continued")
            messages[-1]["content"] = messages[-1].get("content", "") + _CONTINUE_MARK
            add_generation_prompt = False
        if now is not None:
            extra["strftime_now"] = _strftime_now(lambda: now)
        variables = dict(messages=messages, add_generation_prompt=add_generation_prompt,
                         reasoning_effort=effort, bos_token=self.bos_token,
                         eos_token=self.eos_token, tools=tools, **extra)
        memo: dict = {}  # the conversation's lists and dicts, measured once for the render
        try:
            given = weight(variables, 1 << 62, memo)
        except LimitExceeded as exc:
            raise TemplateLimitError(f"This conversation holds values nested more than "
                                     f"{MAX_DEPTH} deep; it cannot be rendered.") from None
        with self._lock:
            compiled = self._compile()
            text = _run(lambda limits: render_template(self._env, compiled, variables, limits),
                        budget_s=self.budget_s, cancel=cancel,
                        max_chars=BASE_CHARS + CHARS_PER_INPUT_CHAR * given,
                        memory_limit=MEMORY_BASE + 32 * given, action="rendering",
                        failure="The model's chat template failed", memo=memo)
        if continue_final:
            cut = text.rfind(_CONTINUE_MARK)
            if cut < 0:
                raise ChatTemplateError("This model's chat template cannot continue an answer.")
            text = text[:cut]
        return text


_PROBE = [{"role": "user", "content": "Hello!"}]


def model_template(source: str | None, *, bos_token: str = "",
                   eos_token: str = "") -> tuple[ChatTemplate, str | None]:
    """The template to render a model's prompts with, and a one-line warning when it is not
    the model's own.

    No template in the GGUF: ChatML, no warning (the model list says so already). A template
    that does not compile, or that runs past its budget on a one-message conversation, is
    broken or hostile: ChatML with the reason, as llama.cpp's server falls back, so the model
    still answers (perhaps poorly) and the window can say why. A template that merely refuses
    the one-message probe (its own `raise_exception`) is kept: it knows its model's rules.
    A harmony template (gpt-oss) is only compiled should it be rendered: the engine renders
    harmony with harmony_render.py, exactly as openai-harmony does.
    """
    if not source:
        return ChatTemplate(CHATML_TEMPLATE, bos_token, eos_token), None
    if "<|channel|>" in source:  # harmony: the engine renders it itself (harmony_render.py)
        return ChatTemplate(source, bos_token, eos_token, lazy=True), None
    try:
        template = ChatTemplate(source, bos_token, eos_token)
        template.render(_PROBE)
    except (TemplateLimitError, TemplateCompileError) as exc:
        return (ChatTemplate(CHATML_TEMPLATE, bos_token, eos_token),
                f"{exc} Using the generic ChatML format instead; answers may be poor.")
    except ChatTemplateError:
        pass
    return template, None


__all__ = ["model_template", "ChatTemplate", "ChatTemplateError", "TemplateLimitError",
           "TemplateCompileError", "RenderCancelled", "CHATML_TEMPLATE"]
