"""What a turn needs from an engine, wherever the model runs.

`run_turn` (app/core/turns.py), the engine's thread and the window only ever use these
members, so the in-process llama.cpp runtime (inference/runtime.py `Engine`) and a model
served elsewhere over HTTP (inference/remote.py `RemoteEngine`) are interchangeable.
"""

from __future__ import annotations

import threading
from typing import Iterator, Protocol, Sequence, runtime_checkable

from .chat_format import Message
from .events import Event
from .sampling import Sampling


class Template(Protocol):
    """What is known of the prompt format: harmony (gpt-oss) or something else."""

    @property
    def is_harmony(self) -> bool: ...


@runtime_checkable
class ChatEngine(Protocol):
    name: str  # the model's name, as answers record it
    n_ctx: int  # the context window, in tokens
    template: Template
    template_warning: str | None  # why the model's own template is not used, or None

    @property
    def tools_supported(self) -> bool:
        """Tools can be offered: gpt-oss in harmony, or an endpoint's own tool calling."""

    @property
    def cached_tokens(self) -> int:
        """Tokens of the conversation the engine holds in its cache now (0 if unknown)."""

    def render(self, messages: Sequence[Message], effort: str = "medium", *, tools=None,
               builtin_tools=(), now=None, continue_final: bool = False,
               thinking: bool | None = None,
               cancel: threading.Event | None = None) -> str:
        """The prompt for the assistant's next message (its text is what answers hash);
        `thinking`: a <think> model's switch (None: the model's own default)."""

    def tokenize(self, text: str, *, special: bool = True,
                 add_bos: bool | None = None) -> list[int]:
        """Tokens of `text`; an engine without the model's tokenizer may return as many
        placeholders as it estimates, never fewer than the real count would likely be."""

    def chat_tokens(self, prompt: Sequence[int], prompt_text: str, sampling: Sampling,
                    cancel: threading.Event | None = None,
                    reuse_limit: int | None = None) -> Iterator[Event]:
        """Generate the answer to a rendered prompt: parsed events, then Done(stats)."""

    def close(self) -> None: ...
