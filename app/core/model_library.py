"""The models a person can choose from, and what Hearth remembers about each: the default, the
folders to search, per-model settings. Qt-free: the window and `hearth models` share it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from common.values import EFFORTS
from inference.gguf_file import ModelFileError, check_gguf
from inference.models import download
from inference.models.catalog import RECOMMENDED, CatalogModel, starter_model
from inference.models.discovery import FoundModel, Locations, discover
from inference.models.fit import Fit, ModelShape, estimate
from inference.models.hardware import Machine, probe
from inference.runtime import LoadOptions
from inference.sampling import GPT_OSS_DEFAULT, Sampling
from storage import Store, default_data_dir

DEFAULT_MODEL_KEY = "default_model_path"
_OLD_LAST_MODEL_KEY = "last_model_path"  # before the model manager: the last model loaded
FOLDERS_KEY = "model_folders"
_PREFS_PREFIX = "model_prefs:"


@dataclass(frozen=True)
class ModelPrefs:
    """Per-model defaults, set in the model manager."""

    n_ctx: int = LoadOptions.n_ctx
    effort: str = "medium"
    temperature: float = GPT_OSS_DEFAULT.temperature
    top_p: float = GPT_OSS_DEFAULT.top_p
    # A GBNF grammar every answer must follow (structured output). No window control sets it
    # yet; tests use it to make a random-weight model write well-formed harmony.
    grammar: str | None = None
    max_tokens: int | None = None  # a limit on each answer's length; None: until it ends

    def load_options(self, gpu_layers: int | None = None, **overrides) -> LoadOptions:
        return LoadOptions(n_ctx=self.n_ctx, n_gpu_layers=gpu_layers, **overrides)

    def sampling(self) -> Sampling:
        return replace(GPT_OSS_DEFAULT, temperature=self.temperature, top_p=self.top_p,
                       grammar=self.grammar, max_tokens=self.max_tokens)


@dataclass
class ModelEntry:
    model: FoundModel
    prefs: ModelPrefs = field(default_factory=ModelPrefs)
    fit: Fit | None = None
    is_default: bool = False

    @property
    def path(self) -> Path:
        return self.model.path

    @property
    def usable(self) -> bool:
        return self.model.error is None


def models_dir() -> Path:
    """Hearth's own downloads; everything here (and only here) Hearth may delete."""
    return default_data_dir() / "models"


def folders(store: Store) -> list[Path]:
    return [Path(p) for p in store.settings.get(FOLDERS_KEY, [])]


def add_folder(store: Store, folder: str | os.PathLike) -> None:
    paths = [str(p) for p in folders(store)]
    if str(folder) not in paths:
        store.settings.set(FOLDERS_KEY, paths + [str(folder)])


def remove_folder(store: Store, folder: str | os.PathLike) -> None:
    store.settings.set(FOLDERS_KEY, [str(p) for p in folders(store) if str(p) != str(folder)])


def _key(path: str | os.PathLike) -> str:
    """Settings are kept per absolute path: `./x.gguf` and `/models/x.gguf` are one model.
    Not resolved: a Hugging Face snapshot link must not turn into its blob's name. A remote
    model's reference (`remote:URL#MODEL`, app/core/engines.py) is kept as it is."""
    if str(path).startswith("remote:"):
        return str(path)
    return os.path.abspath(os.path.expanduser(str(path)))


def default_model(store: Store) -> Path | None:
    """The default model's file; None when there is none, or when it is a remote model."""
    path = store.settings.get(DEFAULT_MODEL_KEY) or store.settings.get(_OLD_LAST_MODEL_KEY)
    return Path(path) if path and not str(path).startswith("remote:") else None


def default_remote(store: Store) -> str | None:
    """The default model when it is a remote one: its reference (app/core/engines.py)."""
    value = store.settings.get(DEFAULT_MODEL_KEY)
    return value if isinstance(value, str) and value.startswith("remote:") else None


def set_default(store: Store, path: str | os.PathLike | None) -> None:
    if path is None:
        store.settings.delete(DEFAULT_MODEL_KEY)
        store.settings.delete(_OLD_LAST_MODEL_KEY)
    else:
        store.settings.set(DEFAULT_MODEL_KEY, _key(path))


def base_prefs(store: Store) -> ModelPrefs:
    """What a model without settings of its own gets: the Settings dialog's defaults."""
    from app.core import preferences

    defaults = preferences.load(store)
    return ModelPrefs(n_ctx=defaults.n_ctx, effort=defaults.effort,
                      temperature=defaults.temperature, top_p=defaults.top_p)


def prefs(store: Store, path: str | os.PathLike) -> ModelPrefs:
    """The model's own settings, over the app-wide defaults."""
    base = base_prefs(store)
    saved = store.settings.get(_PREFS_PREFIX + _key(path)) or {}
    known = {k: v for k, v in saved.items() if k in ModelPrefs.__dataclass_fields__}
    return replace(base, **known)


def load_options(store: Store, path: str | os.PathLike, **overrides) -> LoadOptions:
    """How to load this model: its context size, the app's GPU offload choice."""
    from app.core import preferences

    return prefs(store, path).load_options(gpu_layers=preferences.load(store).gpu_layers, **overrides)


def set_prefs(store: Store, path: str | os.PathLike, value: ModelPrefs) -> None:
    if value.effort not in EFFORTS:
        raise ValueError(f"effort must be one of {', '.join(EFFORTS)}")
    if value.n_ctx < 512:
        raise ValueError("the context must be at least 512 tokens")
    store.settings.set(_PREFS_PREFIX + _key(path), asdict(value))


def starter() -> FoundModel | None:
    """SmolLM2, bundled with the app: something to chat with before any download."""
    path = starter_model()
    if path is None:
        return None
    try:
        info, error = check_gguf(path), None
    except ModelFileError as exc:
        info, error = None, str(exc)
    return FoundModel(path=path, source="starter", display_name="SmolLM2 135M (starter)",
                      repo="HuggingFaceTB/SmolLM2-135M-Instruct", filename=path.name,
                      size=path.stat().st_size, parts=1, sha256=None,
                      downloaded_by_hearth=False, info=info, error=error)


@dataclass(frozen=True)
class LibrarySettings:
    """What scanning needs from the database, read on the caller's thread (a Store belongs to
    the thread that opened it) so the scan itself can run anywhere."""

    folders: tuple[Path, ...] = ()
    default: Path | None = None
    prefs: dict = field(default_factory=dict)  # path → ModelPrefs
    base: ModelPrefs = ModelPrefs()  # for models without their own settings

    @classmethod
    def read(cls, store: Store) -> LibrarySettings:
        saved = {key[len(_PREFS_PREFIX):]: prefs(store, key[len(_PREFS_PREFIX):])
                 for key in store.settings.with_prefix(_PREFS_PREFIX)}
        return cls(tuple(folders(store)), default_model(store), saved, base_prefs(store))


def scan(settings: Store | LibrarySettings, machine: Machine | None = None, *,
         include_starter: bool = True) -> list[ModelEntry]:
    """Every model on this machine with its fit at its own context size. Reads headers only
    (milliseconds a file), but can touch many files: keep it off the GUI thread."""
    if isinstance(settings, Store):
        settings = LibrarySettings.read(settings)
    found = discover(Locations.default(folders=list(settings.folders), hearth_downloads=models_dir()))
    if include_starter and (bundled := starter()) is not None \
            and all(Path(m.path) != bundled.path for m in found):
        found.append(bundled)
    machine = machine or probe()
    entries = []
    for model in found:
        model_prefs = settings.prefs.get(_key(model.path), settings.base)
        entries.append(ModelEntry(model, model_prefs, fit_of(model, model_prefs.n_ctx, machine),
                                  is_default=settings.default is not None
                                  and Path(model.path) == settings.default))
    return entries


def fit_of(model: FoundModel, n_ctx: int, machine: Machine) -> Fit | None:
    if model.info is None:  # (a split model's info already sums every part)
        return None
    trained = model.info.context_length
    return estimate(ModelShape.from_gguf(model.info), min(n_ctx, trained) if trained else n_ctx, machine)


def catalog_fit(entry: CatalogModel = RECOMMENDED, n_ctx: int = LoadOptions.n_ctx,
                machine: Machine | None = None) -> Fit:
    """The fit of a model not downloaded yet, from its published shape."""
    return estimate(entry.shape, n_ctx, machine or probe())


def find_catalog_model(entries: list[ModelEntry], entry: CatalogModel = RECOMMENDED) -> ModelEntry | None:
    """The catalog model if it is already on disk (any source): no need to download it again."""
    for candidate in entries:
        m = candidate.model
        if m.error is None and m.repo and m.repo.lower() == entry.repo_id.lower() \
                and m.filename.lower() == entry.filename.lower():
            return candidate
    return None


def download_destination(entry: CatalogModel = RECOMMENDED) -> Path:
    return download.destination(models_dir(), entry.repo_id, entry.filename)


def delete_downloaded(model: FoundModel) -> None:
    """Delete a file Hearth downloaded. Files the user or another app put there are never
    touched: deleting them is for the app that owns them."""
    path = Path(model.path).resolve()
    root = models_dir().resolve()
    if not model.downloaded_by_hearth or root not in path.parents:
        raise PermissionError(f"{path.name} was not downloaded by Hearth, so Hearth will not delete it.")
    path.unlink(missing_ok=True)
    for parent in path.parents:  # tidy the now-empty <owner>/<repo> folders
        if parent == root:
            break
        try:
            parent.rmdir()
        except OSError:
            break


SOURCE_LABELS = {
    "huggingface": "Hugging Face cache",
    "lmstudio": "LM Studio",
    "ollama": "Ollama",
    "folder": "Your folder",
    "hearth": "Downloaded by Hearth",
    "starter": "Bundled starter",
}
