"""`hearth models list|pull|default` in-process, over real files laid out like other tools do."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fixtures.tiny_models import write_tiny_gpt_oss

from app.cli.main import main


def _ollama(root: Path, name: str, tag: str, model: Path) -> str:
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    blob = root / "blobs" / f"sha256-{digest}"
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(model.read_bytes())
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / name / tag
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                "digest": f"sha256:{digest}", "size": model.stat().st_size}]}))
    return digest


def test_list_shows_every_model_with_its_source_shape_and_fit(capsys, tmp_path, smollm2_path):
    home = Path(os.environ["HOME"])
    lmstudio = home / ".lmstudio" / "models" / "acme" / "Tiny-GGUF" / "tiny-MXFP4.gguf"
    lmstudio.parent.mkdir(parents=True)
    write_tiny_gpt_oss(lmstudio, seed=1, expert_type="mxfp4")
    digest = _ollama(Path(os.environ["OLLAMA_MODELS"]), "smollm2", "135m", smollm2_path)

    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"tiny-MXFP4", "smollm2:135m", "SmolLM2 135M (starter)"}
    tiny = rows["tiny-MXFP4"]
    assert (tiny["source"], tiny["repo"], tiny["architecture"], tiny["quantization"]) == (
        "lmstudio", "acme/Tiny-GGUF", "gpt-oss", "MXFP4")
    assert tiny["size"] == lmstudio.stat().st_size and tiny["chat_template"]
    assert tiny["fit"]["verdict"] == "fits" and tiny["fit"]["total_bytes"] > tiny["size"]
    smol = rows["smollm2:135m"]
    assert (smol["source"], smol["sha256"], smol["context_length"]) == ("ollama", digest, 8192)

    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["NAME", "SOURCE", "ARCH"]
    assert any("smollm2:135m" in line and "ollama" in line and "Q4_1" in line for line in table)


def test_default_is_set_shown_and_refuses_a_file_that_is_not_a_model(capsys, tmp_path, tiny_gpt_oss):
    assert main(["models", "default"]) == 1
    assert "no default model set" in capsys.readouterr().err
    assert main(["models", "default", str(tiny_gpt_oss)]) == 0
    capsys.readouterr()
    assert main(["models", "default"]) == 0
    assert capsys.readouterr().out.strip() == str(tiny_gpt_oss)
    text = tmp_path / "notes.gguf"
    text.write_text("hello\n" * 10)
    assert main(["models", "default", str(text)]) == 1
    assert "not a GGUF model" in capsys.readouterr().err
    assert main(["models", "default"]) == 0  # the refused file did not replace the default
    assert capsys.readouterr().out.strip() == str(tiny_gpt_oss)


def test_pull_reports_a_clear_error_for_an_unknown_file(capsys, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    fake_hub.add_file("acme/Tiny-GGUF", "tiny.gguf", b"GGUF")
    assert main(["models", "pull", "acme/Tiny-GGUF", "other.gguf"]) == 1
    assert "acme/Tiny-GGUF has no file named 'other.gguf'" in capsys.readouterr().err
