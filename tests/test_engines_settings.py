"""Saved endpoints (app/core/engines.py): addresses and settings in the database, API keys in
the system keyring only — here a keyring kept in memory, installed with the library's own
keyring.set_keyring, as CI has no system keyring."""

from __future__ import annotations

import keyring
import keyring.backends.fail
import pytest
from fixtures.api_server import MemoryKeyring, serving

from app.core import engines, model_library
from common.errors import UserError

KEY = "sk-secret-do-not-store-8841"


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def test_an_endpoint_is_saved_and_its_key_only_in_the_keyring(store, memory_keyring):
    saved = engines.save_endpoint(store, engines.Endpoint("http://gpu-box:8000/v1/", "Lab", "harmony"))
    assert saved.url == "http://gpu-box:8000"  # one spelling, whatever was pasted
    engines.set_api_key(saved.url, KEY)
    assert engines.endpoints(store) == [saved]
    assert engines.api_key("http://gpu-box:8000/v1") == KEY
    assert memory_keyring.passwords == {("hearth", "http://gpu-box:8000"): KEY}
    store.close()
    assert KEY.encode() not in store.path.read_bytes()
    wal = store.path.with_name(store.path.name + "-wal")
    assert not wal.exists() or KEY.encode() not in wal.read_bytes()


def test_saving_again_replaces_and_deleting_forgets_the_key(store, memory_keyring):
    engines.save_endpoint(store, engines.Endpoint("http://a:1", "one"))
    engines.save_endpoint(store, engines.Endpoint("http://a:1/v1", "two", n_ctx=32768))
    assert [(e.name, e.n_ctx) for e in engines.endpoints(store)] == [("two", 32768)]
    engines.set_api_key("http://a:1", KEY)
    engines.delete_endpoint(store, "http://a:1")
    assert engines.endpoints(store) == [] and memory_keyring.passwords == {}


@pytest.mark.parametrize("endpoint, says", [
    (engines.Endpoint("gpu-box:8000"), "not an endpoint address"),
    (engines.Endpoint("http://x:1", mode="fast"), "must be auto, harmony or chat"),
    (engines.Endpoint("http://x:1", n_ctx=100), "at least 512"),
])
def test_bad_endpoints_are_refused_in_words(store, endpoint, says):
    with pytest.raises(UserError, match=says):
        engines.save_endpoint(store, endpoint)
    assert engines.endpoints(store) == []


def test_without_a_keyring_a_key_cannot_be_kept_and_says_what_to_do(no_keyring):
    with pytest.raises(engines.KeyringUnavailable) as refused:
        engines.set_api_key("http://gpu-box:8000", KEY)
    assert "keyring is not available" in str(refused.value) and "--api-key-env" in str(refused.value)
    assert KEY not in str(refused.value)
    assert engines.api_key("http://gpu-box:8000") is None


def test_a_remote_model_is_named_by_a_reference(store):
    ref = engines.ref("http://gpu-box:8000/v1", "openai/gpt-oss-120b")
    assert ref == "remote:http://gpu-box:8000#openai/gpt-oss-120b"
    assert engines.parse_ref(ref) == ("http://gpu-box:8000", "openai/gpt-oss-120b")
    assert engines.ref_label(ref) == "openai/gpt-oss-120b on gpu-box:8000"
    with pytest.raises(UserError):
        engines.parse_ref("/models/x.gguf")
    # It carries settings as a model's path does.
    prefs = model_library.prefs(store, ref)
    model_library.set_prefs(store, ref, prefs.__class__(n_ctx=65536, effort="high"))
    assert model_library.prefs(store, ref).effort == "high"
    model_library.set_default(store, ref)
    assert model_library.default_remote(store) == ref and model_library.default_model(store) is None
    engines.set_chat_engine(store, 7, ref)
    assert engines.chat_engine(store, 7) == ref and engines.chat_engine(store, 8) is None
    engines.set_chat_engine(store, 7, None)
    assert engines.chat_engine(store, 7) is None


def test_an_engine_opens_with_its_endpoints_settings_and_key(store, tiny_gpt_oss, memory_keyring):
    with serving(tiny_gpt_oss, api_key=KEY) as (srv, _host):
        engines.save_endpoint(store, engines.Endpoint(srv.url, "Here", mode="chat", n_ctx=1024))
        engines.set_api_key(srv.url, KEY)
        engine = engines.open_engine(store, engines.ref(srv.url, tiny_gpt_oss.stem))
        try:
            assert (engine.mode, engine.n_ctx, engine.name) == ("chat", 1024, tiny_gpt_oss.stem)
        finally:
            engine.close()
        assert [m.id for m in engines.remote_models(srv.url, KEY)] == [tiny_gpt_oss.stem]
