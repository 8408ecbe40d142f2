"""Finding the models already on disk (inference/models/discovery.py).

Each test lays out real files the way Hugging Face, LM Studio, Ollama or the user would, and
checks what the model list would show: names, sources, sizes, checksums, and why a file
cannot be used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from pathlib import Path

import gguf
import numpy as np
import pytest

from fixtures.tiny_models import write_tiny_gpt_oss
from inference.gguf_file import check_gguf
from inference.models.discovery import (
    FoundModel, Locations, discover, find_huggingface, find_in_folders, find_lmstudio,
    find_ollama,
)


def tiny(path: Path, seed: int, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_tiny_gpt_oss(path, seed=seed, **kwargs)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hf_cached(cache: Path, repo: str, commit: str, filename: str, source: Path) -> Path:
    """Lay a file out as huggingface_hub does: a blob named by its sha256, and a symlink to it
    in the commit's snapshot."""
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    blob = repo_dir / "blobs" / sha256(source)
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        blob.write_bytes(source.read_bytes())
    link = repo_dir / "snapshots" / commit / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    return link


def ollama_pulled(root: Path, name: str, model: Path, *, old_blob_name: bool = False,
                  projector: Path | None = None) -> str:
    """Lay a model out as `ollama pull` does; `name` is host/namespace/model/tag."""
    def blob(data: bytes, media_type: str) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        sep = ":" if old_blob_name else "-"
        (root / "blobs" / f"sha256{sep}{digest}").write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    layers = [blob(model.read_bytes(), "application/vnd.ollama.image.model"),
              blob(b"{{ .Prompt }}", "application/vnd.ollama.image.template")]
    if projector:
        layers.append(blob(projector.read_bytes(), "application/vnd.ollama.image.projector"))
    manifest = root / "manifests" / name
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": layers}))
    return layers[0]["digest"].removeprefix("sha256:")


def by_filename(models: list[FoundModel]) -> dict[str, FoundModel]:
    return {m.filename: m for m in models}


def test_huggingface_cache(tmp_path):
    cache = tmp_path / "hub"
    src = tiny(tmp_path / "src" / "a.gguf", 1, expert_type="mxfp4", context_length=8192)
    repo = "ggml-org/gpt-oss-20b-GGUF"
    old = hf_cached(cache, repo, "a" * 40, "gpt-oss-20b-mxfp4.gguf", src)
    new = hf_cached(cache, repo, "b" * 40, "gpt-oss-20b-mxfp4.gguf", src)
    (cache / "models--ggml-org--gpt-oss-20b-GGUF" / "refs").mkdir()
    (cache / "models--ggml-org--gpt-oss-20b-GGUF" / "refs" / "main").write_text("b" * 40)
    os.utime(old.parent, (2e9, 2e9))  # the old snapshot touched last: refs/main still wins
    q8 = tiny(tmp_path / "src" / "b.gguf", 2, expert_type="q8_0")
    hf_cached(cache, repo, "b" * 40, "Q8_0/gpt-oss-20b-Q8_0.gguf", q8)
    # A download in progress: a blob with no snapshot entry yet.
    partial = tiny(tmp_path / "src" / "c.gguf", 3).read_bytes()[:300_000]
    (cache / "models--ggml-org--gpt-oss-20b-GGUF" / "blobs" / "f00d.incomplete").write_bytes(
        partial)
    # Windows without developer mode: real files in the snapshot, no blob names.
    tiny(cache / "models--someone--Tiny-GGUF" / "snapshots" / ("c" * 40) / "tiny-F16.gguf", 4,
         expert_type="f16")

    found = by_filename(find_huggingface(cache))

    assert sorted(found) == [
        "Q8_0/gpt-oss-20b-Q8_0.gguf", "gpt-oss-20b-mxfp4.gguf", "tiny-F16.gguf"]
    mxfp4 = found["gpt-oss-20b-mxfp4.gguf"]
    assert (mxfp4.source, mxfp4.repo, mxfp4.path) == ("huggingface", repo, new)
    assert mxfp4.display_name == "gpt-oss-20b-mxfp4"  # the file's name, not general.name
    assert mxfp4.sha256 == sha256(src)
    assert mxfp4.size == src.stat().st_size
    assert (mxfp4.quantization, mxfp4.context_length, mxfp4.architecture) == (
        "MXFP4", 8192, "gpt-oss")
    assert mxfp4.has_chat_template and mxfp4.error is None and not mxfp4.downloaded_by_hearth
    assert found["Q8_0/gpt-oss-20b-Q8_0.gguf"].quantization == "Q8_0"
    windows = found["tiny-F16.gguf"]
    assert (windows.repo, windows.sha256, windows.quantization) == (
        "someone/Tiny-GGUF", None, "F16")


def test_lmstudio_default_old_and_custom_folders(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    tiny(home / ".lmstudio/models/lmstudio-community/gpt-oss-20b-GGUF/gpt-oss-20b-MXFP4.gguf", 1)
    tiny(home / ".cache/lm-studio/models/TheBloke/Old-GGUF/old.Q8_0.gguf", 2)
    custom = tmp_path / "big disk" / "models"
    tiny(custom / "bartowski" / "Qwen-GGUF" / "qwen-f16.gguf", 3)
    (home / ".lmstudio" / "settings.json").write_text(json.dumps({"downloadsFolder": str(custom)}))

    found = find_lmstudio(Locations.default().lmstudio)

    assert {(m.repo, m.filename) for m in found} == {
        ("lmstudio-community/gpt-oss-20b-GGUF", "gpt-oss-20b-MXFP4.gguf"),
        ("TheBloke/Old-GGUF", "old.Q8_0.gguf"),
        ("bartowski/Qwen-GGUF", "qwen-f16.gguf"),
    }
    assert {m.source for m in found} == {"lmstudio"}


def test_lmstudio_moved_home(tmp_path, monkeypatch):
    home, moved = tmp_path / "home", tmp_path / "elsewhere" / ".lmstudio"
    monkeypatch.setenv("HOME", str(home))
    home.mkdir()
    (home / ".lmstudio-home-pointer").write_text(f"{moved}\n")
    tiny(moved / "models" / "pub" / "Repo-GGUF" / "model.gguf", 1)

    found = find_lmstudio(Locations.default().lmstudio)

    assert [(m.repo, m.path) for m in found] == [
        ("pub/Repo-GGUF", moved / "models" / "pub" / "Repo-GGUF" / "model.gguf")]


def test_ollama(tmp_path):
    root = tmp_path / "ollama" / "models"
    src = tmp_path / "src"
    gpt_oss = tiny(src / "gpt-oss.gguf", 1, expert_type="mxfp4")
    digest = ollama_pulled(root, "registry.ollama.ai/library/gpt-oss/20b", gpt_oss,
                           projector=tiny(src / "projector.gguf", 2))
    ollama_pulled(root, "registry.ollama.ai/library/gpt-oss/latest", gpt_oss)  # same blob
    ollama_pulled(root, "registry.ollama.ai/someone/tiny/latest", tiny(src / "old.gguf", 3),
                  old_blob_name=True)
    ollama_pulled(root, "hf.co/bartowski/SmolLM2-GGUF/Q8_0", tiny(src / "hf.gguf", 4,
                                                                  expert_type="q8_0"))
    truncated = src / "truncated.gguf"
    truncated.write_bytes(tiny(src / "whole.gguf", 5).read_bytes()[:300_000])
    ollama_pulled(root, "registry.ollama.ai/library/broken/1b", truncated)
    (root / "manifests" / "registry.ollama.ai" / "library" / "junk").mkdir()
    (root / "manifests" / "registry.ollama.ai" / "library" / "junk" / "x").write_text("{not json")

    found = {m.display_name: m for m in find_ollama([root, tmp_path / "no-such-folder"])}

    assert sorted(found) == ["broken:1b", "gpt-oss:20b", "hf.co/bartowski/SmolLM2-GGUF:Q8_0",
                             "someone/tiny:latest"]
    model = found["gpt-oss:20b"]
    assert (model.source, model.repo, model.sha256) == ("ollama", "gpt-oss:20b", digest)
    assert model.path == root / "blobs" / f"sha256-{digest}"
    assert (model.quantization, model.size) == ("MXFP4", gpt_oss.stat().st_size)
    assert found["someone/tiny:latest"].path.name.startswith("sha256:")
    assert found["someone/tiny:latest"].error is None
    assert found["hf.co/bartowski/SmolLM2-GGUF:Q8_0"].quantization == "Q8_0"
    broken = found["broken:1b"]
    assert broken.error.startswith("Ollama's file for broken:1b is truncated")
    assert broken.info is None and broken.quantization is None


def test_user_folders(tmp_path):
    root = tmp_path / "My Models"
    tiny(root / "Big.GGUF", 1)
    tiny(root / "a" / "b" / "nested.gguf", 2)
    tiny(root / "1/2/3/4/5/6" / "deep.gguf", 3)
    tiny(root / "1/2/3/4/5/6/7" / "too-deep.gguf", 4)
    tiny(root / ".trash" / "deleted.gguf", 5)
    (root / "._Big.GGUF").write_bytes(b"\0\5\26\7" + bytes(4092))  # macOS metadata on a USB drive
    (root / "notes.txt").write_text("not a model")
    (root / "a" / "loop").symlink_to(root)  # a folder that links back up the tree

    found = find_in_folders([root, tmp_path / "unplugged drive"])

    assert sorted(m.filename for m in found) == ["Big.GGUF", "deep.gguf", "nested.gguf"]
    assert {(m.source, m.repo) for m in found} == {("folder", None)}


def test_hearth_downloads_come_first(tmp_path, smollm2_path):
    downloads = tmp_path / "hearth" / "models"
    mine = tiny(downloads / "ggml-org" / "gpt-oss-20b-GGUF" / "gpt-oss-20b-mxfp4.gguf", 1)
    # A download still running: no .gguf name until it is verified.
    (mine.parent / "gpt-oss-120b-mxfp4.gguf.part").write_bytes(mine.read_bytes()[:1000])
    (mine.parent / "gpt-oss-120b-mxfp4.gguf.part.json").write_text("{}")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "smol.gguf").symlink_to(smollm2_path)

    # The user also added Hearth's folder as one of theirs: still one entry, Hearth's.
    found = discover(Locations(folders=[folder, downloads], hearth_downloads=downloads))

    assert [(m.display_name, m.source) for m in found] == [
        ("gpt-oss-20b-mxfp4", "hearth"), ("smol", "folder")]
    assert found[0].downloaded_by_hearth and not found[1].downloaded_by_hearth
    assert (found[0].repo, found[0].filename) == ("ggml-org/gpt-oss-20b-GGUF",
                                                  "gpt-oss-20b-mxfp4.gguf")


def test_real_model(tmp_path, smollm2_path):
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)

    [model] = find_in_folders([tmp_path])

    assert model.path == tmp_path / "smol.gguf"  # loaded where the user put it
    assert (model.architecture, model.quantization, model.context_length) == ("llama", "Q4_1", 8192)
    assert model.has_chat_template
    assert 130_000_000 < model.parameter_count < 140_000_000
    assert model.size == smollm2_path.stat().st_size


@pytest.mark.parametrize("expert_type, label", [
    ("f32", "F32"), ("f16", "F16"), ("q8_0", "Q8_0"), ("mxfp4", "MXFP4")])
def test_quantization_label(tmp_path, expert_type, label):
    tiny(tmp_path / "model.gguf", 1, expert_type=expert_type)

    [model] = find_in_folders([tmp_path])
    # A converter that did not record general.file_type: the weights' own type decides.
    metadata = {k: v for k, v in model.info.metadata.items() if k != "general.file_type"}
    unlabelled = dataclasses.replace(model, info=dataclasses.replace(model.info, metadata=metadata))

    assert model.quantization == unlabelled.quantization == label


def test_split_model_listed_once_with_all_parts(tmp_path):
    parts = [tiny(tmp_path / f"Qwen3-235B-Q4_K_M-{i:05d}-of-00003.gguf", i) for i in (1, 2, 3)]

    [model] = find_in_folders([tmp_path])

    assert (model.path, model.parts) == (parts[0], 3)
    assert model.size == sum(p.stat().st_size for p in parts)
    assert model.info.parameter_count == 3 * check_gguf(parts[0]).parameter_count

    parts[1].unlink()
    [model] = find_in_folders([tmp_path])

    assert model.parts == 3 and model.info is None
    assert model.display_name == "Qwen3-235B-Q4_K_M"
    assert "Qwen3-235B-Q4_K_M-00002-of-00003.gguf is missing" in model.error


def test_projectors_and_vocabularies_are_not_models(tmp_path):
    tiny(tmp_path / "gemma-3-4b-it-Q4_K_M.gguf", 1)
    tiny(tmp_path / "mmproj-model-f16.gguf", 2)
    clip = gguf.GGUFWriter(tmp_path / "vision-encoder.gguf", arch="clip")
    clip.add_tensor("v.patch_embd.weight", np.zeros((4, 4), dtype=np.float32))
    vocab = gguf.GGUFWriter(tmp_path / "ggml-vocab-llama-bpe.gguf", arch="llama")
    vocab.add_token_list(["a", "b", "c"])
    for writer in (clip, vocab):
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    assert [m.filename for m in find_in_folders([tmp_path])] == ["gemma-3-4b-it-Q4_K_M.gguf"]


def test_broken_files_are_listed_with_the_reason(tmp_path):
    whole = tiny(tmp_path / "src" / "model.gguf", 1).read_bytes()
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "half-downloaded.gguf").write_bytes(whole[:300_000])
    (folder / "notes.gguf").write_text("these are my notes about models\n" * 10)

    found = by_filename(discover(Locations(folders=[folder])))

    assert found["half-downloaded.gguf"].error.startswith("half-downloaded.gguf is truncated")
    assert found["half-downloaded.gguf"].size == 300_000
    assert "is not a GGUF model file" in found["notes.gguf"].error
    assert {m.display_name: m.info for m in found.values()} == {"half-downloaded": None,
                                                                "notes": None}

    # Downloaded again, in place: the next scan sees the repaired file.
    (folder / "half-downloaded.gguf").write_bytes(whole)
    repaired = by_filename(discover(Locations(folders=[folder])))["half-downloaded.gguf"]
    assert repaired.error is None and repaired.info.architecture == "gpt-oss"


def test_lmstudio_link_into_hf_cache_listed_once(tmp_path):
    cache, lmstudio = tmp_path / "hub", tmp_path / "lmstudio"
    src = tiny(tmp_path / "src.gguf", 1)
    cached = hf_cached(cache, "ggml-org/gpt-oss-20b-GGUF", "a" * 40, "gpt-oss-20b.gguf", src)
    (lmstudio / "ggml-org" / "gpt-oss-20b-GGUF").mkdir(parents=True)
    (lmstudio / "ggml-org" / "gpt-oss-20b-GGUF" / "gpt-oss-20b.gguf").symlink_to(cached)
    assert len(find_lmstudio([lmstudio])) == 1

    # The user also added both folders by hand.
    found = discover(Locations(hf_cache=cache, lmstudio=[lmstudio], folders=[lmstudio, cache]))

    assert [(m.source, m.path, m.sha256) for m in found] == [("huggingface", cached, sha256(src))]


def test_default_locations_follow_the_environment(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME",
                "OLLAMA_MODELS"):
        monkeypatch.delenv(var, raising=False)

    plain = Locations.default(folders=[tmp_path / "mine"], hearth_downloads=tmp_path / "dl")
    assert plain.hf_cache == home / ".cache" / "huggingface" / "hub"
    assert plain.ollama[0] == home / ".ollama" / "models"
    assert plain.lmstudio == [home / ".lmstudio" / "models",
                              home / ".cache" / "lm-studio" / "models"]
    assert (plain.folders, plain.hearth_downloads) == ([tmp_path / "mine"], tmp_path / "dl")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Locations.default().hf_cache == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert Locations.default().hf_cache == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    assert Locations.default().hf_cache == tmp_path / "hub"
    assert Locations.default().ollama == [tmp_path / "ollama"]

    # discover() with no arguments looks in exactly those places.
    hf_cached(tmp_path / "hub", "owner/Repo-GGUF", "a" * 40, "hf.gguf",
              tiny(tmp_path / "1.gguf", 1))
    ollama_pulled(tmp_path / "ollama", "registry.ollama.ai/library/tiny/1b",
                  tiny(tmp_path / "2.gguf", 2))
    tiny(home / ".lmstudio" / "models" / "pub" / "Repo-GGUF" / "lm.gguf", 3)
    assert sorted((m.source, m.repo) for m in discover()) == [
        ("huggingface", "owner/Repo-GGUF"), ("lmstudio", "pub/Repo-GGUF"), ("ollama", "tiny:1b")]


def test_hostile_manifests_settings_and_refs_neither_hang_nor_raise(tmp_path, monkeypatch):
    """Files discovery reads besides models: FIFOs (reading one waits for a writer forever), a
    huge file, JSON nested too deep for Python's parser, a digest that climbs out of blobs/."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    ollama = tmp_path / "ollama"
    manifests = ollama / "manifests" / "registry.ollama.ai" / "library"
    (manifests / "fifo").mkdir(parents=True)
    os.mkfifo(manifests / "fifo" / "latest")
    (manifests / "deep").mkdir()
    (manifests / "deep" / "latest").write_text("[" * 100_000 + "]" * 100_000)
    (manifests / "huge").mkdir()
    with open(manifests / "huge" / "latest", "wb") as fh:
        fh.truncate(8 << 30)  # sparse: 8 GB of nothing
    (manifests / "escape").mkdir()
    outside = tiny(tmp_path / "outside.gguf", 1)
    digest = "sha256:../../" + outside.name
    (manifests / "escape" / "latest").write_text(json.dumps({"layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": digest}]}))
    (home / ".lmstudio").mkdir(parents=True)
    os.mkfifo(home / ".lmstudio" / "settings.json")
    os.mkfifo(home / ".lmstudio-home-pointer")
    repo = tmp_path / "hub" / "models--o--r"
    (repo / "refs").mkdir(parents=True)
    os.mkfifo(repo / "refs" / "main")
    tiny(repo / "snapshots" / ("a" * 40) / "m.gguf", 2)

    found: list = []
    scan = threading.Thread(target=lambda: found.extend(discover(Locations(
        hf_cache=tmp_path / "hub", ollama=[ollama], lmstudio=Locations.default().lmstudio))),
        daemon=True)
    scan.start()
    scan.join(timeout=30)

    assert not scan.is_alive(), "the scan blocked"
    assert [(m.source, m.filename) for m in found] == [("huggingface", "m.gguf")]
