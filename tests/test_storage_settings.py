"""Key/value settings stored as JSON."""

from __future__ import annotations

import pytest

from storage import Store


@pytest.mark.parametrize(
    "value",
    ["/models/gpt-oss-20b.gguf", "", 0, 42, -1.5, True, False, None, [], [1, "two", None],
     {"nested": {"list": [1, 2, {"x": "ÿ😀"}]}, "n": 3.25}],
)
def test_round_trip(store, value):
    store.settings.set("key", value)
    assert store.settings.get("key") == value
    assert type(store.settings.get("key")) is type(value)


def test_default_only_when_missing(store):
    assert store.settings.get("missing") is None
    assert store.settings.get("missing", "fallback") == "fallback"
    assert "missing" not in store.settings
    store.settings.set("nothing", None)
    assert store.settings.get("nothing", "fallback") is None
    assert "nothing" in store.settings


def test_overwrite_delete_and_independent_keys(store):
    store.settings.set("last_model_path", "/a.gguf")
    store.settings.set("effort", "medium")
    store.settings.set("last_model_path", "/b.gguf")
    assert store.settings.get("last_model_path") == "/b.gguf"
    assert store.settings.get("effort") == "medium"
    assert store.db.execute("SELECT COUNT(*) FROM settings").fetchone()[0] == 2
    assert store.settings.delete("effort") is True
    assert store.settings.delete("effort") is False
    assert store.settings.get("effort", "low") == "low"
    assert store.settings.get("last_model_path") == "/b.gguf"


def test_persists_across_stores(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as store:
        store.settings.set("window", {"w": 1200, "h": 800})
    with Store(path) as store:
        assert store.settings.get("window") == {"w": 1200, "h": 800}


def test_json_limitations_are_explicit(store):
    store.settings.set("pair", (1, 2))
    assert store.settings.get("pair") == [1, 2]
    with pytest.raises(TypeError):
        store.settings.set("bad", object())
    with pytest.raises(TypeError):
        store.settings.set("bad", {1, 2})
    with pytest.raises(ValueError):
        store.settings.set("bad", float("inf"))
    with pytest.raises(TypeError):
        store.settings.set(1, "x")  # type: ignore[arg-type]
    assert "bad" not in store.settings


def test_with_prefix_matches_exactly_not_like_a_pattern(store):
    store.settings.set("model_prefs:/models/a_b%c.gguf", {"n_ctx": 4096})
    store.settings.set("model_prefs:/models/é.gguf", {"n_ctx": 8192})
    store.settings.set("MODEL_PREFS:/x.gguf", 1)  # LIKE would match this: case-insensitive
    store.settings.set("model_prefsX", 2)  # and this, if "_" were a wildcard
    assert store.settings.with_prefix("model_prefs:") == {
        "model_prefs:/models/a_b%c.gguf": {"n_ctx": 4096},
        "model_prefs:/models/é.gguf": {"n_ctx": 8192},
    }
    assert store.settings.with_prefix("model_prefs:/models/a_b%") == {
        "model_prefs:/models/a_b%c.gguf": {"n_ctx": 4096}}
