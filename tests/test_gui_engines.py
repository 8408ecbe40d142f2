"""The window with engines beyond the loaded file: Settings → Engines adds an endpoint and
chats run on its model; a chat keeps its own engine; the model manager lists remote models;
Settings → Local server lets other apps use the window's model, and the status bar shows
when they do."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import keyring
import keyring.backends.fail
import openai
import pytest
from fixtures.api_server import MemoryKeyring, serving
from fixtures.gui import bubbles, load, send, speak

from app.core import engines, model_library
from app.core.server import local_settings
from app.gui import engines_settings, server_settings


@pytest.fixture(scope="module")
def server(tiny_gpt_oss):
    with serving(tiny_gpt_oss) as (srv, _host):
        yield srv


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def add_endpoint(qtbot, win, url: str, key: str = "") -> engines_settings.EnginesDialog:
    dialog = engines_settings.show(win)
    dialog.add_endpoint()
    dialog.name.setText("Lab")
    dialog.url.setText(url)
    dialog.key.setText(key)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith(("Connected", "Cannot", "Could")),
                    timeout=20000)
    return dialog


def test_the_window_chats_with_a_model_served_elsewhere(qtbot, window, server, tiny_gpt_oss,
                                                        memory_keyring):
    dialog = add_endpoint(qtbot, window, server.url)
    assert dialog.status.text() == "Connected: 1 model served."
    assert [dialog.models.item(i).text() for i in range(dialog.models.count())] == [tiny_gpt_oss.stem]
    ref = engines.ref(server.url, tiny_gpt_oss.stem)
    speak(window.store, ref)  # the remote model's own settings: greedy, through the grammar
    with qtbot.waitSignal(window.session.changed, timeout=20000) as loaded:
        dialog.load_button.click()
    info = loaded.args[0]
    assert (info.path, info.name, info.n_ctx, info.harmony) == (ref, tiny_gpt_oss.stem, 4096, True)
    send(qtbot, window, "Why is the sky blue?")
    answer = bubbles(window)[-1]
    assert answer.answer_text.strip()
    saved = window.store.messages.get(answer.message_id)
    assert (saved.status, saved.model_name) == ("complete", tiny_gpt_oss.stem)
    assert window.window_tools.button.isEnabled()  # tools go to the endpoint too


def test_an_unreachable_endpoint_is_said_in_the_dialog(qtbot, window, unused_port):
    dialog = add_endpoint(qtbot, window, f"http://127.0.0.1:{unused_port}/v1")
    assert dialog.status.text().startswith(f"Cannot reach 127.0.0.1:{unused_port}")
    assert engines.endpoints(window.store)[0].models == ()


def test_without_a_keyring_the_endpoint_is_kept_and_the_key_refused_in_words(qtbot, window, server):
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        dialog = add_endpoint(qtbot, window, server.url, key="sk-nowhere-to-go")
    finally:
        keyring.set_keyring(previous)
    assert "keyring is not available" in dialog.status.text()
    assert engines.endpoints(window.store)[0].url == server.url.removesuffix("/v1")
    assert dialog.key.text() == ""


def test_a_chat_keeps_its_own_engine(qtbot, window, server, tiny_gpt_oss, memory_keyring):
    load(qtbot, window, tiny_gpt_oss)
    send(qtbot, window, "A local question")
    local_chat = window.controller.conversation_id
    window.controller.new_conversation()
    dialog = add_endpoint(qtbot, window, server.url)
    ref = engines.ref(server.url, tiny_gpt_oss.stem)
    with qtbot.waitSignal(window.session.changed, timeout=20000):
        dialog.chat_button.click()
    remote_chat = window.controller.conversation_id
    assert window.session.model.path == ref
    assert engines.chat_engine(window.store, remote_chat) == ref
    window.controller.open_conversation(local_chat)  # no engine of its own: nothing changes
    assert window.session.model.path == ref
    engines.set_chat_engine(window.store, local_chat, str(tiny_gpt_oss))
    with qtbot.waitSignal(window.session.changed, timeout=20000):
        window.controller.open_conversation(local_chat)
    assert window.session.model.path == str(tiny_gpt_oss)
    with qtbot.waitSignal(window.session.changed, timeout=20000):
        window.controller.open_conversation(remote_chat)
    assert window.session.model.path == ref


def test_the_model_manager_lists_remote_models(qtbot, window, server, tiny_gpt_oss, memory_keyring):
    add_endpoint(qtbot, window, server.url)
    window.show_model_manager()
    manager = window.manager
    ref = engines.ref(server.url, tiny_gpt_oss.stem)
    qtbot.waitUntil(lambda: "remote" in manager.status.text(), timeout=20000)
    items = [manager.tree.topLevelItem(i) for i in range(manager.tree.topLevelItemCount())]
    (row,) = [i for i in items if i.data(0, 256) == ref]
    assert row.text(1) == "Remote: Lab"
    manager.tree.setCurrentItem(row)
    assert manager.title.text() == engines.ref_label(ref) and manager.load_button.isEnabled()
    manager.default_button.click()
    assert model_library.default_remote(window.store) == ref
    with qtbot.waitSignal(window.session.changed, timeout=20000):
        manager.load_button.click()
    assert window.session.model.path == ref
    manager.close()


def test_a_remote_default_model_loads_at_start(qtbot, open_window, server, tiny_gpt_oss, store):
    ref = engines.ref(server.url, tiny_gpt_oss.stem)
    model_library.set_default(store, ref)
    win = open_window()
    qtbot.waitUntil(lambda: win.session.model is not None, timeout=20000)
    assert win.session.model.path == ref


def test_other_apps_use_the_windows_model_through_the_local_server(qtbot, window, tiny_gpt_oss,
                                                                  unused_port, memory_keyring):
    load(qtbot, window, tiny_gpt_oss)
    dialog = server_settings.show(window)
    assert not dialog.enabled.isChecked() and not dialog.lan.isChecked()  # off by default
    dialog.enabled.setChecked(True)
    dialog.port.setValue(unused_port)
    dialog.key.setText("sk-local-55")
    dialog.lan.setChecked(True)
    assert "any machine that can reach this one" in dialog.warning.text()
    dialog.lan.setChecked(False)
    assert not dialog.warning.isVisible()
    dialog.accept()
    assert local_settings.load(window.store) == local_settings.LocalServer(True, unused_port, False)
    engines_ = window.window_engines
    assert engines_.server is not None and engines_.server.url == f"http://127.0.0.1:{unused_port}/v1"
    assert "sk-local-55" not in str(window.store.settings.get(local_settings.SETTINGS_KEY))

    client = openai.OpenAI(base_url=engines_.server.url, api_key="sk-local-55", max_retries=0)
    gate = threading.Event()
    window.session.host.submit(lambda state: gate.wait(30))  # the window's own long turn
    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(client.chat.completions.create, model=tiny_gpt_oss.stem,
                            messages=[{"role": "user", "content": "hi"}])
        qtbot.waitUntil(lambda: "1 waiting" in engines_.label.text(), timeout=20000)
        assert engines_.busy
        gate.set()
        reply = asked.result(60)
    assert reply.choices[0].message.content
    qtbot.waitUntil(lambda: engines_.label.text().startswith("API: http://"), timeout=20000)

    off = server_settings.show(window)
    off.enabled.setChecked(False)
    off.accept()
    assert engines_.server is None and not engines_.label.isVisible()
    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_a_port_in_use_keeps_the_dialog_open_with_the_reason(qtbot, window, unused_port):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", unused_port))
        taken.listen(1)
        dialog = server_settings.show(window)
        dialog.enabled.setChecked(True)
        dialog.port.setValue(unused_port)
        dialog.accept()
        assert dialog.isVisible() and "already in use" in dialog.status.text()
    assert window.window_engines.server is None


def test_other_apps_conversations_appear_as_chats_when_asked(qtbot, window, tiny_gpt_oss,
                                                             unused_port, memory_keyring):
    load(qtbot, window, tiny_gpt_oss)
    dialog = server_settings.show(window)
    assert not dialog.record.isChecked()  # off by default
    dialog.enabled.setChecked(True)
    dialog.port.setValue(unused_port)
    dialog.record.setChecked(True)
    dialog.accept()
    assert local_settings.load(window.store).record
    client = openai.OpenAI(base_url=window.window_engines.server.url, api_key="x", max_retries=0)
    with ThreadPoolExecutor(1) as pool:  # the answer needs the GUI thread free to show activity
        asked = pool.submit(client.chat.completions.create, model=tiny_gpt_oss.stem,
                            messages=[{"role": "user", "content": "Name a colour"}], max_tokens=16)
        qtbot.waitUntil(asked.done, timeout=30000)
        asked.result()
    qtbot.waitUntil(lambda: "API: Name a colour" in window.sidebar.titles(), timeout=20000)
