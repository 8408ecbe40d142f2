"""App-wide preferences from the Settings dialog, Qt-free so the command line reads the same
ones. Per-model settings (app/model_library.py) start from these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from common.values import EFFORTS
from inference.runtime import LoadOptions
from inference.sampling import GPT_OSS_DEFAULT
from storage import Store

KEY = "preferences"
THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class Preferences:
    effort: str = "medium"
    n_ctx: int = LoadOptions.n_ctx
    temperature: float = GPT_OSS_DEFAULT.temperature
    top_p: float = GPT_OSS_DEFAULT.top_p
    gpu_layers: int | None = None  # None: as many as fit; -1: all; 0: CPU only; n: n layers
    hide_reasoning: bool = False
    theme: str = "system"

    def validate(self) -> None:
        if self.effort not in EFFORTS:
            raise ValueError(f"effort must be one of {', '.join(EFFORTS)}")
        if not 512 <= self.n_ctx <= 1_048_576:
            raise ValueError("the context size must be between 512 and 1,048,576 tokens")
        if not 0.0 <= self.temperature <= 2.0 or not 0.0 < self.top_p <= 1.0:
            raise ValueError("temperature must be 0–2 and top-p above 0 and at most 1")
        if self.theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}")


def load(store: Store) -> Preferences:
    saved = store.settings.get(KEY) or {}
    known = {f.name for f in fields(Preferences)}
    try:
        prefs = Preferences(**{k: v for k, v in saved.items() if k in known})
        prefs.validate()
        return prefs
    except (TypeError, ValueError):  # a hand-edited or older value: defaults, not a crash
        return Preferences()


def save(store: Store, prefs: Preferences) -> None:
    prefs.validate()
    store.settings.set(KEY, asdict(prefs))
