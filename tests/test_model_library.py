"""The Qt-free model library: per-model settings, the default, and what Hearth may delete."""

from __future__ import annotations

import pytest
from fixtures.tiny_models import write_tiny_gpt_oss

from app.core import model_library
from app.core.model_library import ModelPrefs
from inference.models.discovery import Locations, discover


def test_per_model_settings_round_trip_and_bad_values_change_nothing(store, tiny_gpt_oss):
    assert model_library.prefs(store, tiny_gpt_oss) == ModelPrefs()  # gpt-oss's defaults
    chosen = ModelPrefs(n_ctx=32768, effort="high", temperature=0.7, top_p=0.9)
    model_library.set_prefs(store, tiny_gpt_oss, chosen)
    assert model_library.prefs(store, tiny_gpt_oss) == chosen
    assert chosen.load_options().n_ctx == 32768
    assert (chosen.sampling().temperature, chosen.sampling().top_p) == (0.7, 0.9)
    for bad in (ModelPrefs(effort="extreme"), ModelPrefs(n_ctx=10)):
        with pytest.raises(ValueError):
            model_library.set_prefs(store, tiny_gpt_oss, bad)
    assert model_library.prefs(store, tiny_gpt_oss) == chosen


def test_hearth_deletes_its_own_downloads_and_nothing_else(store, tmp_path):
    ours = model_library.models_dir() / "acme" / "Tiny-GGUF" / "tiny.gguf"
    ours.parent.mkdir(parents=True)
    write_tiny_gpt_oss(ours, seed=1)
    theirs = write_tiny_gpt_oss(tmp_path / "theirs.gguf", seed=2)
    found = {m.path: m for m in discover(Locations(folders=[tmp_path],
                                                   hearth_downloads=model_library.models_dir()))}
    with pytest.raises(PermissionError, match="not downloaded by Hearth"):
        model_library.delete_downloaded(found[theirs])
    assert theirs.exists()
    model_library.delete_downloaded(found[ours])
    assert not ours.exists() and not (model_library.models_dir() / "acme").exists()
    assert model_library.models_dir().exists()  # the root stays


def test_the_recommended_model_already_on_disk_is_found_not_downloaded_again(store, tmp_path):
    from inference.models.catalog import RECOMMENDED

    lmstudio = tmp_path / "lmstudio"
    copy = lmstudio / "ggml-org" / "gpt-oss-20b-GGUF" / RECOMMENDED.filename
    copy.parent.mkdir(parents=True)
    write_tiny_gpt_oss(copy, seed=3)
    entries = [model_library.ModelEntry(m) for m in discover(Locations(lmstudio=[lmstudio]))]
    assert model_library.find_catalog_model(entries).path == copy
