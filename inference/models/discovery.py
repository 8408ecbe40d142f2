"""Find the GGUF models already on disk, where the user's other tools put them.

Sources: the Hugging Face cache, LM Studio, Ollama, folders the user added, and Hearth's own
downloads. Files are listed where they are, never copied. Every file's header is read
(check_gguf, ~15 ms, cached until the file changes) so the list can show architecture,
quantization and context length, and so a broken file shows up with the reason rather than
failing at load time. Nothing here raises for a bad file or an unreadable folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from gguf.constants import LlamaFileType

from ..gguf_file import GGUFInfo, ModelFileError, check_gguf, merge_parts
from common.text import display_name, display_path, display_text

log = logging.getLogger(__name__)

_MAX_DEPTH = 6  # folders below a scanned root; deeper trees are rarely model folders
_SPLIT = re.compile(r"(.+)-(\d{5})-of-(\d{5})\.gguf", re.IGNORECASE)  # llama.cpp's gguf-split
_SHA256 = re.compile(r"[0-9a-f]{64}")
_OLLAMA_REGISTRY = "registry.ollama.ai"
_OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
_MAX_CONFIG_BYTES = 1 << 20  # a manifest, settings.json, a ref: a few hundred bytes each


@dataclass(frozen=True)
class FoundModel:
    path: Path  # what to load: the file, or a split model's first part
    source: str  # "huggingface" | "lmstudio" | "ollama" | "folder" | "hearth"
    display_name: str  # printable: no control characters, undecodable bytes spelled out
    repo: str | None  # "owner/name"; LM Studio's "publisher/repo"; Ollama's "model:tag"
    filename: str  # within the repo, folders included; for Ollama, the blob's name
    size: int  # bytes, all parts together
    parts: int = 1
    sha256: str | None = None  # of the file at `path`, when the source already knows it
    downloaded_by_hearth: bool = False
    # A split model's info covers all its parts. compare=False keeps FoundModel hashable.
    info: GGUFInfo | None = field(default=None, compare=False)
    error: str | None = None  # why the file cannot be used, worded for the user

    @property
    def display_path(self) -> str:
        """`path`, safe to print or show (see inference/names.py)."""
        return display_path(self.path)

    @property
    def architecture(self) -> str | None:
        return self.info.architecture if self.info else None

    @property
    def parameter_count(self) -> int | None:
        return self.info.parameter_count if self.info else None

    @property
    def context_length(self) -> int | None:
        return self.info.context_length if self.info else None

    @property
    def has_chat_template(self) -> bool:
        return bool(self.info and self.info.chat_template)

    @property
    def quantization(self) -> str | None:
        """The label file names carry ("Q4_K_M", "MXFP4", "F16"), read from the header."""
        if self.info is None:
            return None
        try:
            file_type = LlamaFileType(self.info.metadata.get("general.file_type"))
        except ValueError:  # absent, or newer than this gguf package
            file_type = None
        if file_type is not None and file_type is not LlamaFileType.GUESSED:
            # MOSTLY_MXFP4_MOE is what everyone calls MXFP4.
            return file_type.name.removeprefix("MOSTLY_").removeprefix("ALL_").removesuffix("_MOE")
        # Norms and biases stay F32 in every quantization, so they say nothing.
        counts = {t: n for t, n in self.info.tensor_types.items() if t != "F32"}
        if counts:
            return max(counts, key=lambda t: (counts[t], t))
        return "F32" if self.info.tensor_types else None


@dataclass
class Locations:
    hf_cache: Path | None = None
    lmstudio: list[Path] = field(default_factory=list)
    ollama: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    hearth_downloads: Path | None = None

    @classmethod
    def default(
        cls, folders: Iterable[Path] = (), hearth_downloads: Path | None = None
    ) -> Locations:
        """Where each tool keeps models on this machine, from the environment as it is now."""
        env, home = os.environ, Path.home()
        hub_cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")  # the old name
        if hub_cache:
            hf_cache = Path(hub_cache).expanduser()
        elif env.get("HF_HOME"):
            hf_cache = Path(env["HF_HOME"]).expanduser() / "hub"
        else:
            cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache").expanduser()
            hf_cache = cache / "huggingface" / "hub"
        if env.get("OLLAMA_MODELS"):
            ollama = [Path(env["OLLAMA_MODELS"]).expanduser()]
        else:
            ollama = [home / ".ollama" / "models"]
            if sys.platform.startswith("linux"):  # the system service's home
                ollama.append(Path("/usr/share/ollama/.ollama/models"))
        return cls(hf_cache=hf_cache, lmstudio=_lmstudio_folders(home), ollama=ollama,
                   folders=[Path(f) for f in folders], hearth_downloads=hearth_downloads)


def _lmstudio_folders(home: Path) -> list[Path]:
    homes = [home / ".lmstudio"]
    # LM Studio moved its home here when the user relocated it
    pointer = _read_small(home / ".lmstudio-home-pointer").decode("utf-8", "replace").strip()
    if pointer and "\0" not in pointer:
        homes.insert(0, Path(pointer).expanduser())
    folders = [h / "models" for h in homes] + [home / ".cache" / "lm-studio" / "models"]
    for lm_home in homes:  # the "Models Directory" the user chose in LM Studio's settings
        try:
            settings = json.loads(_read_small(lm_home / "settings.json"))
            custom = settings["downloadsFolder"]
        except (ValueError, LookupError, TypeError, RecursionError):
            continue
        if isinstance(custom, str) and custom and "\0" not in custom:
            folders.append(Path(custom).expanduser())
    return list(dict.fromkeys(folders))


def discover(locations: Locations | None = None) -> list[FoundModel]:
    """Every model in `locations` (default: this machine's usual places), each file once:
    Hearth's downloads first, then by name."""
    loc = locations or Locations.default()
    # The more informative source comes first and keeps the file: a repo name beats a folder.
    found = [
        *(find_hearth_downloads(loc.hearth_downloads) if loc.hearth_downloads else ()),
        *(find_huggingface(loc.hf_cache) if loc.hf_cache else ()),
        *find_ollama(loc.ollama),
        *find_lmstudio(loc.lmstudio),
        *find_in_folders(loc.folders),
    ]
    return sorted(_unique(found), key=lambda m: (
        m.error is not None, not m.downloaded_by_hearth, m.display_name.casefold(), str(m.path)))


def find_huggingface(cache: Path) -> list[FoundModel]:
    """`models--{owner}--{name}/snapshots/{commit}/{file}` in the hub cache. Only snapshots are
    walked: blobs still downloading (`.incomplete`) have no snapshot entry yet."""
    found = []
    for repo_dir in _subdirs(cache):
        if not repo_dir.name.startswith("models--"):
            continue
        repo = repo_dir.name.removeprefix("models--").replace("--", "/", 1)
        for snapshot in _snapshots_newest_first(repo_dir):
            for file in _gguf_files(snapshot):
                # Symlinks into blobs/, named by etag: an LFS file's is its sha256.
                blob = os.path.basename(os.path.realpath(file))
                filename = file.relative_to(snapshot).as_posix()
                found.append(_model(file, "huggingface", repo, filename,
                                    sha256=blob if _SHA256.fullmatch(blob) else None))
    return _unique(found)


def _snapshots_newest_first(repo_dir: Path) -> list[Path]:
    """refs/main's commit first, then newest first: a blob kept by several snapshots is
    listed under its latest name."""
    main = _read_small(repo_dir / "refs" / "main").decode("utf-8", "replace").strip() or None
    return sorted(_subdirs(repo_dir / "snapshots"), key=lambda s: (s.name != main, -_mtime(s)))


def find_lmstudio(roots: Iterable[Path]) -> list[FoundModel]:
    """`{publisher}/{repo}/{file}.gguf` under each LM Studio models folder."""
    return _unique(m for root in roots for m in _repo_tree(root, "lmstudio"))


def find_hearth_downloads(folder: Path) -> list[FoundModel]:
    """Hearth's own `{owner}/{repo}/{file}.gguf`; unfinished downloads end in `.part`, so are
    not picked up."""
    return _unique(_repo_tree(folder, "hearth"))


def _repo_tree(root: Path, source: str) -> Iterator[FoundModel | None]:
    for file in _gguf_files(root):
        rel = file.relative_to(root).parts
        if len(rel) >= 3:
            yield _model(file, source, f"{rel[0]}/{rel[1]}", "/".join(rel[2:]))
        else:
            yield _model(file, source, None, file.name)


def find_ollama(roots: Iterable[Path]) -> list[FoundModel]:
    """Models pulled with Ollama: `manifests/{host}/{namespace}/{model}/{tag}` name a blob."""
    found = []
    for root in roots:
        manifests = root / "manifests"
        for manifest in sorted(manifests.glob("*/*/*/*")):
            try:
                layers = json.loads(_read_small(manifest))["layers"]
                digest = next(layer["digest"] for layer in layers
                              if layer.get("mediaType") == _OLLAMA_MODEL_LAYER)
                digest_hex = digest.removeprefix("sha256:")
                if not _SHA256.fullmatch(digest_hex):
                    continue  # a digest is a file name below: no "../" from a manifest
            except (ValueError, LookupError, TypeError, AttributeError, StopIteration,
                    RecursionError):
                continue  # not a manifest, or no model in it (vision projectors are other layers)
            blob = root / "blobs" / f"sha256-{digest_hex}"
            if not blob.exists() and (root / "blobs" / f"sha256:{digest_hex}").exists():
                blob = root / "blobs" / f"sha256:{digest_hex}"  # older Ollama's naming
            host, namespace, model, tag = manifest.relative_to(manifests).parts
            name = _ollama_name(host, namespace, model, tag)
            entry = _model(blob, "ollama", name, blob.name, sha256=digest_hex)
            if entry and entry.error:  # the blob's name means nothing to the user
                readable = entry.error.replace(display_name(blob), f"Ollama's file for {name}")
                entry = replace(entry, error=readable)
            found.append(entry)
    return _unique(found)


def _ollama_name(host: str, namespace: str, model: str, tag: str) -> str:
    """As `ollama list` shows it: the default registry and its `library` namespace left out."""
    if host != _OLLAMA_REGISTRY:
        return f"{host}/{namespace}/{model}:{tag}"
    return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"


def find_in_folders(folders: Iterable[Path]) -> list[FoundModel]:
    """Any *.gguf in folders the user added, and their subfolders."""
    return _unique(_model(file, "folder", None, file.name)
                   for folder in folders for file in _gguf_files(folder))


def find_files(paths: Iterable[str | os.PathLike]) -> list[FoundModel]:
    """Single files the person opened (Open model…), wherever they are."""
    return _unique(_model(Path(p), "opened", None, Path(p).name) for p in paths if Path(p).is_file())


def _model(path: Path, source: str, repo: str | None, filename: str, *,
           sha256: str | None = None) -> FoundModel | None:
    """The entry for one file, or None for a file that is not a model by itself."""
    if path.name.lower().startswith("mmproj"):  # a vision model's image encoder
        return None
    split = _SPLIT.fullmatch(path.name)
    if split and int(split[3]) == 0:
        split = None  # not gguf-split's naming after all
    if split and int(split[2]) != 1:
        return None  # listed through its first part
    parts = [path]
    if split:
        parts = [path.with_name(f"{split[1]}-{i:05d}-of-{split[3]}{path.suffix}")
                 for i in range(1, int(split[3]) + 1)]
    info, error = None, None
    missing = [p for p in parts if not p.is_file()]
    if split and missing:
        error = (f"{display_text(split[1])} is split into {len(parts)} files and "
                 f"{display_name(missing[0])} is missing. An interrupted download? "
                 "Download it again.")
    else:
        headers = [_read_header(p) for p in parts]
        error = next((h for h in headers if isinstance(h, str)), None)
        if error is None:
            info = headers[0] if len(headers) == 1 else merge_parts(headers)
            if info.architecture == "clip" or info.tensor_count == 0:
                return None  # a projector, or a tokenizer-only file (llama.cpp's ggml-vocab-*)
    # The name the user chose the file by: Ollama's tag, else the file name, which carries the
    # size and quantization ("Qwen3-8B-Q4_K_M"); general.name is often a training-run label.
    shown = repo if source == "ollama" else (split[1] if split else path.stem)
    return FoundModel(
        path=path, source=source, display_name=display_text(shown), repo=repo, filename=filename,
        size=sum(_size(p) for p in parts), parts=len(parts), sha256=sha256,
        downloaded_by_hearth=source == "hearth", info=info, error=error,
    )


def _read_header(path: Path) -> GGUFInfo | str:
    """check_gguf's info, or its message for the user."""
    try:
        st = path.stat()
    except OSError:
        return f"{display_name(path)}: no such file."
    return _read_header_cached(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=1024)
def _read_header_cached(path: str, size: int, mtime_ns: int) -> GGUFInfo | str:
    # Keyed by size and mtime too, so a re-scan re-reads only files that changed.
    try:
        return check_gguf(path)
    except ModelFileError as exc:
        return str(exc)
    except OSError as exc:
        return f"{display_name(path)} cannot be read ({exc.strerror or exc})."
    except Exception:  # noqa: BLE001 - a bug in Hearth must not hide every other model
        log.exception("reading the header of %r", path)
        return f"{display_name(path)} could not be read: Hearth met an error in its header."


def _unique(models: Iterable[FoundModel | None]) -> list[FoundModel]:
    """One entry per file on disk, symlinks resolved; the first one found keeps it."""
    kept: dict[str, FoundModel] = {}
    for model in models:
        if model is not None:
            kept.setdefault(os.path.realpath(model.path), model)
    return list(kept.values())


def _gguf_files(root: Path) -> Iterator[Path]:
    """*.gguf (any case) under root, hidden files and folders left out; symlinked folders are
    followed once each, so a link back up the tree ends."""
    seen: set[str] = set()

    def walk(folder: str, depth: int) -> Iterator[Path]:
        real = os.path.realpath(folder)
        if real in seen:
            return
        seen.add(real)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:  # missing, not a folder, or not ours to read
            return
        for entry in entries:
            if entry.name.startswith("."):  # also macOS's "._x.gguf" companions on USB drives
                continue
            if entry.name.lower().endswith(".gguf") and _is(entry.is_file):
                yield Path(entry.path)
            elif depth < _MAX_DEPTH and _is(entry.is_dir):
                yield from walk(entry.path, depth + 1)

    yield from walk(str(root), 0)


def _read_small(path: Path) -> bytes:
    """A small regular file's bytes; b"" for anything else (missing, a folder, a FIFO that
    would block the scan forever, a file far too large to be a manifest or a setting)."""
    try:
        with open(path, "rb", opener=_open_nonblocking) as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_CONFIG_BYTES:
                return b""
            return fh.read(_MAX_CONFIG_BYTES)
    except OSError:
        return b""


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _is(check) -> bool:
    try:
        return check()
    except OSError:
        return False


def _subdirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as scan:
            return sorted(Path(e.path) for e in scan if _is(e.is_dir))
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
