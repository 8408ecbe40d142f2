"""The models a person can choose from, and what Hearth remembers about each: the default, the
folders to search, per-model settings. Qt-free: the window and `hearth models` share it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from app.core import sampling_defaults
from app.core.sampling_defaults import ModelTraits
from common.values import EFFORTS
from inference.gguf_file import GGUFInfo, ModelFileError, check_gguf
from inference.models import download
from inference.models.catalog import RECOMMENDED, CatalogModel, starter_model
from inference.models.discovery import FoundModel, Locations, discover, find_files
from inference.models.fit import Fit, ModelShape, estimate
from inference.models.hardware import Machine, probe
from inference.runtime import LoadOptions
from inference.sampling import Sampling
from storage import Store, default_data_dir

DEFAULT_MODEL_KEY = "default_model_path"
_OLD_LAST_MODEL_KEY = "last_model_path"  # before the model manager: the last model loaded
FOLDERS_KEY = "model_folders"
_PREFS_PREFIX = "model_prefs:"


_VERSION_KEY = "v"  # in saved per-model settings: 2 since sampling values may be left unset
SAMPLING_FIELDS = sampling_defaults.FIELDS


@dataclass(frozen=True)
class ModelPrefs:
    """Per-model defaults, set in the model manager. A sampling value left None is the
    model's own recommendation (app/core/sampling_defaults.py): its file's, its model card's,
    else llama.cpp's."""

    n_ctx: int = LoadOptions.n_ctx
    effort: str = "medium"
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    # A GBNF grammar every answer must follow (structured output). No window control sets it
    # yet; tests use it to make a random-weight model write well-formed harmony.
    grammar: str | None = None
    max_tokens: int | None = None  # a limit on each answer's length; None: until it ends

    def load_options(self, gpu_layers: int | None = None, **overrides) -> LoadOptions:
        return LoadOptions(n_ctx=self.n_ctx, n_gpu_layers=gpu_layers, **overrides)

    @property
    def chosen_sampling(self) -> dict:
        """The sampling values the person set (the others are None)."""
        return {name: getattr(self, name) for name in SAMPLING_FIELDS}

    def resolved(self, traits: ModelTraits | None = None,
                 thinking: bool | None = None) -> sampling_defaults.Resolved:
        """Each sampling value with where it came from: yours, the file, the model card or
        llama.cpp's defaults."""
        return sampling_defaults.resolve(self.chosen_sampling, traits, thinking)

    def sampling(self, traits: ModelTraits | None = None, thinking: bool | None = None) -> Sampling:
        return self.resolved(traits, thinking).sampling(grammar=self.grammar,
                                                        max_tokens=self.max_tokens)


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
    """What a model without settings of its own gets: the Settings dialog's defaults (its
    temperature and top-p only where the person set them there)."""
    from app.core import preferences

    defaults = preferences.load(store)
    return ModelPrefs(n_ctx=defaults.n_ctx, effort=defaults.effort,
                      temperature=defaults.temperature, top_p=defaults.top_p)


def prefs(store: Store, path: str | os.PathLike) -> ModelPrefs:
    """The model's own settings, over the app-wide defaults."""
    return _over(base_prefs(store), store.settings.get(_PREFS_PREFIX + _key(path)) or {})


def _over(base: ModelPrefs, saved: dict) -> ModelPrefs:
    if not isinstance(saved, dict):
        return base
    known = {f.name for f in fields(ModelPrefs)}
    chosen = {k: v for k, v in saved.items() if k in known}
    if saved.get(_VERSION_KEY) is None and (chosen.get("temperature"), chosen.get("top_p")) == (1.0, 1.0):
        # Saved before sampling values could be left unset: every model then carried
        # gpt-oss's 1.0 / 1.0 whether or not anyone chose it, so it is not the person's.
        chosen.pop("temperature"), chosen.pop("top_p")
    # Unset here: the Settings dialog's value, if any.
    chosen = {k: v for k, v in chosen.items() if v is not None or k not in SAMPLING_FIELDS}
    try:
        return replace(base, **chosen)
    except TypeError:
        return base


def own_prefs(store: Store, path: str | os.PathLike) -> ModelPrefs:
    """What the model manager saves: this model's own settings, its sampling values only
    where the person set them for this model (the Settings dialog's stay the Settings
    dialog's, so changing those later still reaches this model)."""
    base = base_prefs(store)
    return _over(ModelPrefs(n_ctx=base.n_ctx, effort=base.effort),
                 store.settings.get(_PREFS_PREFIX + _key(path)) or {})


def load_options(store: Store, path: str | os.PathLike, **overrides) -> LoadOptions:
    """How to load this model: its context size, the app's GPU offload choice."""
    from app.core import preferences

    return prefs(store, path).load_options(gpu_layers=preferences.load(store).gpu_layers, **overrides)


def set_prefs(store: Store, path: str | os.PathLike, value: ModelPrefs) -> None:
    if value.effort not in EFFORTS:
        raise ValueError(f"effort must be one of {', '.join(EFFORTS)}")
    if value.n_ctx < 512:
        raise ValueError("the context must be at least 512 tokens")
    store.settings.set(_PREFS_PREFIX + _key(path), {**asdict(value), _VERSION_KEY: 2})


# -- what a model file says about its own sampling ----------------------------------------------

_traits: dict[tuple, ModelTraits] = {}
_traits_lock = threading.Lock()


def _stat_key(path: str | os.PathLike) -> tuple:
    st = os.stat(path)
    return _key(path), st.st_mtime_ns, st.st_size


def remember_traits(path: str | os.PathLike, info: GGUFInfo) -> ModelTraits:
    """Keep what a header already read (a load, a scan) says about the model's sampling, so a
    turn never reads it again."""
    found = ModelTraits.from_metadata(info.metadata, Path(path).name)
    try:
        key = _stat_key(path)
    except OSError:
        return found
    with _traits_lock:
        _traits[key] = found
    return found


def traits(path: str | os.PathLike | None, *, cached_only: bool = False) -> ModelTraits | None:
    """The model's family, its file's recommended sampling and its kind of reasoning. Read
    from its header once (a big model's header takes a while: the window keeps what the load
    read, see remember_traits); None for no model or an unreadable file, and with
    `cached_only` (the GUI thread) for one not read yet."""
    if path is None:
        return None
    try:
        key = _stat_key(path)
    except OSError:
        return None
    with _traits_lock:
        known = _traits.get(key)
    if known is not None or cached_only:
        return known
    try:
        return remember_traits(path, check_gguf(path))
    except ModelFileError:
        return None


STARTER_NAME = "SmolLM2 135M (starter)"


def starter_path() -> Path | None:
    return starter_model()


def starter() -> FoundModel | None:
    """SmolLM2, bundled with the app: something to chat with before any download."""
    path = starter_model()
    if path is None:
        return None
    try:
        info, error = check_gguf(path), None
    except ModelFileError as exc:
        info, error = None, str(exc)
    return FoundModel(path=path, source="starter", display_name=STARTER_NAME,
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
         include_starter: bool = True, extra: tuple = ()) -> list[ModelEntry]:
    """Every model on this machine with its fit at its own context size: those found in the
    usual places, the default model and `extra` files (one opened with Open model…, wherever
    it is). Reads headers only (milliseconds a file), but can touch many files: keep it off
    the GUI thread."""
    if isinstance(settings, Store):
        settings = LibrarySettings.read(settings)
    found = discover(Locations.default(folders=list(settings.folders), hearth_downloads=models_dir()))
    bundled_path = starter_model()
    known = {os.path.realpath(m.path) for m in found}
    if bundled_path is not None:
        known.add(os.path.realpath(bundled_path))  # listed as the starter, below
    opened = [p for p in (settings.default, *extra) if p is not None
              and os.path.realpath(p) not in known]
    found += find_files(dict.fromkeys(str(p) for p in opened))
    if include_starter and (bundled := starter()) is not None \
            and all(Path(m.path) != bundled.path for m in found):
        found.append(bundled)
    machine = machine or probe()
    entries = []
    for model in found:
        if model.info is not None:
            remember_traits(model.path, model.info)
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
    "opened": "Opened file",
}
