"""`hearth chat --endpoint`, `hearth models list --endpoint` and `hearth serve`'s refusals,
against Hearth's own server on real HTTP."""

from __future__ import annotations

import json
import socket

import keyring
import pytest
from fixtures.api_server import MemoryKeyring, model_settings, serving
from fixtures.remote import one_error_line
from fixtures.tiny_models import HARMONY_GRAMMAR

from app.cli.main import main
from app.core import engines
from storage import Store


@pytest.fixture(scope="module")
def server(tiny_gpt_oss):
    with serving(tiny_gpt_oss) as (srv, _host):
        yield srv


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield
    keyring.set_keyring(previous)


def test_models_list_shows_what_an_endpoint_serves(capsys, server, tiny_gpt_oss):
    assert main(["models", "list", "--endpoint", server.url]) == 0
    out = capsys.readouterr().out
    assert tiny_gpt_oss.stem in out and "4,096" in out
    assert main(["models", "list", "--endpoint", server.url, "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == tiny_gpt_oss.stem and row["context_length"] == 4096
    assert row["ref"] == engines.ref(server.url, tiny_gpt_oss.stem)


@pytest.mark.parametrize("mode", ["harmony", "chat"])
def test_chat_runs_the_turn_on_the_endpoint(capsys, server, tiny_gpt_oss, mode):
    ref = engines.ref(server.url, tiny_gpt_oss.stem)
    model_settings(ref, grammar=HARMONY_GRAMMAR, temperature=0.0)  # the remote model's settings
    status = main(["chat", "--endpoint", server.url, "--model", tiny_gpt_oss.stem, "--mode", mode,
                   "--save", "--json", "Why is the sky blue?"])
    assert status == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"reasoning", "answer"} <= {line["type"] for line in lines}
    done = lines[-1]
    assert done["status"] == "complete"
    with Store() as store:
        saved = store.messages.get(done["message_id"])
    assert saved.model_name == tiny_gpt_oss.stem and saved.content


def test_chat_on_an_endpoint_that_is_not_there(capsys, unused_port):
    status = main(["chat", "--endpoint", f"http://127.0.0.1:{unused_port}/v1", "--model", "m", "hi"])
    assert status == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"Cannot reach 127.0.0.1:{unused_port}" in line


def test_chat_names_the_models_an_endpoint_has(capsys, server, tiny_gpt_oss):
    assert main(["chat", "--endpoint", server.url, "--model", "gpt-9", "hi"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "does not serve 'gpt-9'" in line and tiny_gpt_oss.stem in line
    assert main(["chat", "--endpoint", server.url, "hi"]) == 1
    assert "--endpoint needs --model" in capsys.readouterr().err


def test_the_api_key_comes_from_the_variable_or_the_keyring(capsys, monkeypatch, tiny_gpt_oss,
                                                            memory_keyring):
    with serving(tiny_gpt_oss, api_key="sk-cli-1234") as (srv, _host):
        assert main(["models", "list", "--endpoint", srv.url]) == 1
        line = one_error_line(capsys.readouterr().err)
        assert "refused the API key" in line and "sk-" not in line
        monkeypatch.setenv("MY_KEY", "sk-cli-1234")
        assert main(["models", "list", "--endpoint", srv.url, "--api-key-env", "MY_KEY"]) == 0
        assert tiny_gpt_oss.stem in capsys.readouterr().out
        assert main(["models", "list", "--endpoint", srv.url, "--api-key-env", "NO_SUCH_VAR"]) == 1
        assert "NO_SUCH_VAR is not set" in capsys.readouterr().err
        engines.set_api_key(srv.url, "sk-cli-1234")  # as Settings → Engines keeps it
        assert main(["models", "list", "--endpoint", srv.url]) == 0


def test_serve_refuses_a_port_in_use(capsys, tiny_gpt_oss):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        status = main(["serve", "--model", str(tiny_gpt_oss), "--port", str(port)])
    assert status == 1
    assert f"Port {port} is already in use" in one_error_line(capsys.readouterr().err)


def test_serve_warns_before_listening_beyond_this_machine(capsys, tiny_gpt_oss):
    with socket.socket() as taken:  # so that it stops at binding, after the warning
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--model", str(tiny_gpt_oss), "--host", "0.0.0.0",
                     "--port", str(port)]) == 1
    warning, error = capsys.readouterr().err.splitlines()
    assert warning.startswith("hearth: warning: Listening on 0.0.0.0")
    assert "any machine that can reach this one" in warning and "no API key" in warning
    assert "already in use" in error
    assert main(["serve", "--model", str(tiny_gpt_oss), "--port", "99999"]) == 1
    assert "--port must be" in capsys.readouterr().err
