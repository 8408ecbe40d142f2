"""App-wide preferences from the Settings dialog, Qt-free so the command line reads the same
ones. Per-model settings (app/model_library.py) start from these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from common.values import EFFORTS
from inference.runtime import LoadOptions
from storage import Store

KEY = "preferences"
THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class Preferences:
    effort: str = "medium"
    n_ctx: int = LoadOptions.n_ctx
    # None: each model's own recommendation (app/core/sampling_defaults.py); a number here is
    # the person's choice for every model without a setting of its own.
    temperature: float | None = None
    top_p: float | None = None
    gpu_layers: int | None = None  # None: as many as fit; -1: all; 0: CPU only; n: n layers
    hide_reasoning: bool = False
    theme: str = "system"
    close_to_tray: bool = True  # closing the window keeps Hearth in the tray (app/gui/tray.py)
    global_quick_ask: bool = True  # Ctrl+Shift+Space from any app, on X11 (app/gui/global_shortcut.py)

    def validate(self) -> None:
        if self.effort not in EFFORTS:
            raise ValueError(f"effort must be one of {', '.join(EFFORTS)}")
        if not 512 <= self.n_ctx <= 1_048_576:
            raise ValueError("the context size must be between 512 and 1,048,576 tokens")
        if (self.temperature is not None and not 0.0 <= self.temperature <= 2.0) or \
                (self.top_p is not None and not 0.0 < self.top_p <= 1.0):
            raise ValueError("temperature must be 0–2 and top-p above 0 and at most 1")
        if self.theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}")


def load(store: Store) -> Preferences:
    saved = store.settings.get(KEY) or {}
    if not isinstance(saved, dict):
        return Preferences()
    known = {f.name for f in fields(Preferences)}
    chosen = {k: v for k, v in saved.items() if k in known}
    if saved.get("v") is None and (chosen.get("temperature"), chosen.get("top_p")) == (1.0, 1.0):
        # Saved before "each model's recommendation" existed: 1.0 / 1.0 was the only default
        # (gpt-oss's), written by every save, so it is not a choice anyone made.
        chosen.pop("temperature"), chosen.pop("top_p")
    try:
        prefs = Preferences(**chosen)
        prefs.validate()
        return prefs
    except (TypeError, ValueError):  # a hand-edited or older value: defaults, not a crash
        return Preferences()


def save(store: Store, prefs: Preferences) -> None:
    prefs.validate()
    store.settings.set(KEY, {**asdict(prefs), "v": 2})
