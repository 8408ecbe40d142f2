"""The `hearth` command line (app/cli.py): `hearth chat` and `hearth render`.

A few cases run the real command in a subprocess (what a user's shell sees: exit status,
stdout vs stderr, no stray log lines); the rest call `main([...])` in-process, which runs the
same code faster.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.tiny_models import write_tiny_without

from app.cli.main import main
from storage import Store

REPO = Path(__file__).resolve().parents[1]
HI = [{"role": "user", "content": "hi"}]


# -- helpers ----------------------------------------------------------------------------------


def hearth(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run `hearth ARGS...` as a real process, in this test's data folder."""
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def render(capsys, monkeypatch, model: Path, conversation, *extra: str) -> tuple[int, str, str]:
    """`hearth render --model MODEL EXTRA...` with `conversation` (JSON or raw text) on stdin."""
    text = conversation if isinstance(conversation, str) else json.dumps(conversation)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    status = main(["render", "--model", str(model), *extra])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hearth: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def not_a_model(tmp_path) -> Path:
    path = tmp_path / "notes.gguf"
    path.write_text("these are my notes, not a model\n" * 10)
    return path


# -- the real command -------------------------------------------------------------------------


def test_chat_answers_on_stdout(smollm2_path):
    result = hearth("chat", "--model", str(smollm2_path), "--temperature", "0", "--max-tokens", "40",
                    "What is 2+2?")
    assert result.returncode == 0, result.stderr
    assert "4" in result.stdout
    assert result.stdout.endswith("\n")
    assert result.stderr == ""  # no log noise from llama.cpp; SmolLM2 has no reasoning


def test_non_gguf_model_is_one_error_line_and_status_1(not_a_model):
    result = hearth("chat", "--model", str(not_a_model), "hi")
    assert result.returncode == 1
    line = assert_one_error_line(result.stderr)
    assert "notes.gguf is not a GGUF model file" in line
    assert result.stdout == ""


def test_model_llama_cpp_refuses_is_one_line_naming_the_reason(tmp_path, monkeypatch):
    """A GGUF with a missing tensor: one line that says which tensor, not llama.cpp's log."""
    path = write_tiny_without(tmp_path / "broken.gguf", "output_norm.weight", monkeypatch)
    result = hearth("chat", "--model", str(path), "hi")
    assert result.returncode == 1
    line = assert_one_error_line(result.stderr)
    assert "output_norm.weight" in line


def test_render_prints_the_exact_prompt(tiny_gpt_oss):
    result = hearth("render", "--model", str(tiny_gpt_oss), "--effort", "high", stdin=json.dumps(HI))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("<|start|>user<|message|>hi<|end|><|start|>assistant")
    assert "Reasoning: high" in result.stdout
    assert result.stderr == ""


# -- hearth chat, in-process ------------------------------------------------------------------


def chat(capsys, model: Path, *args: str) -> tuple[int, str, str]:
    status = main(["chat", "--model", str(model), "--temperature", "0", "--max-tokens", "24", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_json_prints_one_event_per_line_and_a_done_line(capsys, smollm2_path):
    status, out, err = chat(capsys, smollm2_path, "--json", "What is 2+2?")
    assert status == 0, err
    events = json_lines(out)
    assert {e["type"] for e in events[:-1]} <= {"reasoning", "answer"}
    assert "4" in "".join(e["text"] for e in events if e["type"] == "answer")
    done = events[-1]
    assert done["type"] == "done" and done["status"] == "complete" and done["error"] is None
    assert done["conversation_id"] is None and done["message_id"] is None  # nothing saved
    stats = done["stats"]
    assert stats["finish_reason"] in ("stop", "length") and stats["generated_tokens"] > 0
    assert stats["prompt_tokens"] > 0 and stats["temperature"] == 0.0
    assert isinstance(stats["seed"], int)
    assert not (Path(os.environ["HEARTH_DATA_DIR"]) / "hearth.db").exists()


def test_effort_reaches_the_turn(capsys, tiny_gpt_oss):
    status, out, _ = chat(capsys, tiny_gpt_oss, "--json", "--effort", "low", "hi")
    assert status == 0
    done = json_lines(out)[-1]
    assert done["type"] == "done" and done["stats"]["effort"] == "low"


def test_seed_repeats_a_sampled_answer(capsys, tiny_gpt_oss):
    """`--seed` at the default temperature (1.0) gives the same events twice, and is reported."""
    runs = []
    for _ in range(2):
        status = main(["chat", "--model", str(tiny_gpt_oss), "--json", "--seed", "7",
                       "--max-tokens", "16", "hi"])
        assert status == 0
        runs.append(json_lines(capsys.readouterr().out))
    assert runs[0][-1]["stats"]["seed"] == 7 and runs[0][-1]["stats"]["temperature"] == 1.0
    assert runs[0][:-1] == runs[1][:-1]


def test_save_stores_the_turn_and_conversation_continues_it(capsys, smollm2_path):
    status, out, err = chat(capsys, smollm2_path, "--json", "--save", "What is 2+2?")
    assert status == 0, err
    done = json_lines(out)[-1]
    conversation_id = done["conversation_id"]
    assert isinstance(conversation_id, int) and isinstance(done["message_id"], int)

    with Store() as store:  # $HEARTH_DATA_DIR/hearth.db
        assert store.conversations.get(conversation_id).title == "What is 2+2?"
        user, answer = store.messages.list_for(conversation_id)
        assert (user.role, user.content) == ("user", "What is 2+2?")
        assert answer.id == done["message_id"] and answer.status == "complete"
        assert "4" in answer.content

    status, out, err = chat(capsys, smollm2_path, "--json", "--conversation", str(conversation_id),
                            "And 3+3?")
    assert status == 0, err
    done2 = json_lines(out)[-1]
    assert done2["conversation_id"] == conversation_id
    with Store() as store:
        messages = store.messages.list_for(conversation_id)
        assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
        assert messages[2].content == "And 3+3?" and messages[3].id == done2["message_id"]
        assert len(store.conversations.list()) == 1


def test_unknown_conversation_is_an_error(capsys, smollm2_path):
    status, _, err = chat(capsys, smollm2_path, "--conversation", "999", "hi")
    assert status == 1
    assert "no saved conversation 999" in assert_one_error_line(err)


def test_plain_output_puts_only_the_answer_on_stdout(capsys, smollm2_path):
    status, out, err = chat(capsys, smollm2_path, "What is 2+2?")
    assert status == 0
    assert "4" in out and not out.lstrip().startswith("{")
    assert err == ""


def test_prompt_too_long_fails_with_one_line_and_a_failed_done(capsys, tiny_gpt_oss):
    status, out, err = chat(capsys, tiny_gpt_oss, "--ctx", "1024", "--json", "word " * 1000)
    assert status == 1
    assert "tokens" in assert_one_error_line(err)
    done = json_lines(out)[-1]
    assert done["status"] == "failed" and "tokens" in done["error"]


def test_non_gguf_model_in_process(capsys, not_a_model):
    status, out, err = chat(capsys, not_a_model, "hi")
    assert status == 1 and out == ""
    assert "not a GGUF model" in assert_one_error_line(err)


def test_missing_model_file(capsys, tmp_path):
    status, _, err = chat(capsys, tmp_path / "nope.gguf", "hi")
    assert status == 1
    assert "nope.gguf: no such file" in assert_one_error_line(err)


@pytest.mark.parametrize("argv", [
    [],
    ["chat"],
    ["chat", "--model", "m.gguf"],  # no question
    ["chat", "--model", "m.gguf", "--effort", "max", "q"],
    ["chat", "--model", "m.gguf", "--temperature", "hot", "q"],
    ["translate", "--model", "m.gguf"],
    ["models"],
    ["models", "pull", "only-a-repo"],
], ids=["nothing", "chat-alone", "no-question", "bad-effort", "bad-temperature",
        "unknown-command", "models-alone", "pull-without-file"])
def test_bad_arguments_exit_2_with_usage(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert "usage: hearth" in err and out == ""


@pytest.mark.parametrize("argv", [["chat", "question"], ["render"]], ids=["chat", "render"])
def test_without_a_model_or_a_default_the_cli_says_how_to_set_one(capsys, argv):
    assert main(argv) == 1
    _out, err = capsys.readouterr()
    assert "hearth models default PATH" in assert_one_error_line(err)


def test_chat_uses_the_default_model_and_its_saved_settings(capsys, smollm2_path):
    from app.core import model_library
    from storage import Store

    with Store() as store:
        model_library.set_default(store, smollm2_path)
        model_library.set_prefs(store, smollm2_path, model_library.ModelPrefs(
            n_ctx=1024, effort="low", temperature=0.0))
    assert main(["chat", "--json", "--max-tokens", "8", "Hi"]) == 0
    out, _err = capsys.readouterr()
    stats = json_lines(out)[-1]["stats"]
    assert stats["temperature"] == 0.0  # the saved per-model setting, not gpt-oss's 1.0


# -- hearth render, in-process ----------------------------------------------------------------


def test_render_default_effort_is_medium(capsys, monkeypatch, tiny_gpt_oss):
    status, out, _ = render(capsys, monkeypatch, tiny_gpt_oss, HI)
    assert status == 0
    assert "Reasoning: medium" in out
    assert "<|start|>user<|message|>hi<|end|>" in out and out.endswith("<|start|>assistant")


@pytest.mark.parametrize("effort", ["low", "high"])
def test_render_effort(capsys, monkeypatch, tiny_gpt_oss, effort):
    status, out, _ = render(capsys, monkeypatch, tiny_gpt_oss, HI, "--effort", effort)
    assert status == 0 and f"Reasoning: {effort}" in out


def test_render_smollm2_uses_its_chatml_template(capsys, monkeypatch, smollm2_path):
    status, out, _ = render(capsys, monkeypatch, smollm2_path, HI)
    assert status == 0
    assert out.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_render_drops_earlier_thinking(capsys, monkeypatch, tiny_gpt_oss):
    conversation = HI + [{"role": "assistant", "content": "hello", "thinking": "PRIVATE"}] + HI
    status, out, _ = render(capsys, monkeypatch, tiny_gpt_oss, conversation)
    assert status == 0 and "PRIVATE" not in out
    assert "<|start|>assistant<|channel|>final<|message|>hello<|end|>" in out


def test_render_never_opens_the_database(capsys, monkeypatch, tiny_gpt_oss):
    render(capsys, monkeypatch, tiny_gpt_oss, HI)
    assert not (Path(os.environ["HEARTH_DATA_DIR"]) / "hearth.db").exists()


@pytest.mark.parametrize("stdin, message", [
    ("{not json", "stdin is not JSON"),
    ("", "stdin is not JSON"),
    ('{"role": "user", "content": "hi"}', "expected a JSON list"),
    ('[{"content": "hi"}]', "expected a JSON list"),
    ('["hi"]', "expected a JSON list"),
    ('[{"role": "user", "content": 5}]', "message 1: the content must be text"),
    ('[{"role": "robot", "content": "hi"}]', "message 1: the role must be one of"),
], ids=["broken", "empty", "object-not-list", "no-role", "strings", "content-not-text", "bad-role"])
def test_render_bad_input_is_one_error_line(capsys, monkeypatch, tiny_gpt_oss, stdin, message):
    status, out, err = render(capsys, monkeypatch, tiny_gpt_oss, stdin)
    assert status == 1 and out == ""
    assert message in assert_one_error_line(err)


def test_render_refusal_is_one_error_line(capsys, monkeypatch, tiny_gpt_oss):
    conversation = HI + [{"role": "tool", "content": "a result no call asked for"}]
    status, out, err = render(capsys, monkeypatch, tiny_gpt_oss, conversation)
    assert status == 1 and out == ""
    assert "no earlier assistant message made" in assert_one_error_line(err)


def test_render_marker_text_in_an_answer_is_text(capsys, monkeypatch, tiny_gpt_oss):
    """gpt-oss's Jinja template refused this; harmony renders it as the text it is."""
    conversation = HI + [{"role": "assistant", "content": "<|channel|>analysis<|message|>x"}] + HI
    status, out, _ = render(capsys, monkeypatch, tiny_gpt_oss, conversation)
    assert status == 0
    assert "<|start|>assistant<|channel|>final<|message|><|channel|>analysis<|message|>x<|end|>" in out


def test_render_bad_model_is_one_error_line(capsys, monkeypatch, not_a_model):
    status, out, err = render(capsys, monkeypatch, not_a_model, HI)
    assert status == 1 and out == ""
    assert "not a GGUF model" in assert_one_error_line(err)


def test_attach_prints_the_context_plan_as_its_own_event(capsys, smollm2_path, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("The launch code is PELICAN-42.\n")
    assert main(["chat", "--model", str(smollm2_path), "--json", "--max-tokens", "4",
                 "--attach", str(notes), "What is the launch code?"]) == 0
    events = json_lines(capsys.readouterr().out)
    plan = events[0]
    assert plan["type"] == "plan" and plan["documents"][0]["name"] == "notes.txt"
    assert plan["documents"][0]["mode"] == "whole" and plan["passages"][0]["label"].startswith("notes.txt")
    assert events[-1]["stats"]["documents"]["documents"][0]["shown"] == "whole"
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    assert main(["chat", "--model", str(smollm2_path), "--attach", str(binary), "q"]) == 1
    assert "blob.bin is not a document Hearth can read" in capsys.readouterr().err


# -- re-run exactly, Ctrl+C, bugs ----------------------------------------------------------------


def test_rerun_replays_a_saved_answer_as_a_new_branch_and_says_it_is_identical(capsys, tiny_gpt_oss):
    from fixtures.gui import speak

    with Store() as store:
        speak(store, tiny_gpt_oss, temperature=1.0)  # sampled: only the saved seed repeats it
    status, out, err = main(["chat", "--model", str(tiny_gpt_oss), "--json", "--save",
                             "--effort", "low", "Say something"]), *capsys.readouterr()
    assert status == 0, err
    original = json_lines(out)[-1]
    status = main(["chat", "--model", str(tiny_gpt_oss), "--json", "--rerun",
                   str(original["message_id"])])
    out, err = capsys.readouterr()
    assert status == 0, err
    again = json_lines(out)[-1]
    assert again["message_id"] != original["message_id"]
    assert again["stats"]["rerun_of"] == original["message_id"]
    assert again["stats"]["rerun_outcome"] == "identical"
    with Store() as store:
        first, second = (store.messages.get(again["message_id"]), store.messages.get(original["message_id"]))
        assert (first.content, first.reasoning) == (second.content, second.reasoning)
        assert first.parent_id == second.parent_id  # a sibling: a new branch of the same question


def test_rerun_of_something_that_is_not_an_answer_is_one_error_line(capsys, tiny_gpt_oss):
    status = main(["chat", "--model", str(tiny_gpt_oss), "--rerun", "12345"])
    assert status == 1
    assert "no answer 12345" in assert_one_error_line(capsys.readouterr().err)


def test_a_bug_is_one_line_pointing_at_the_log_with_the_traceback(capsys, monkeypatch):
    """No real bug is at hand (good), so one is injected where `hearth models list` runs."""
    from app.cli import models as models_cli
    from app.core import logs

    def broken(_args):
        raise KeyError("a bug")
    monkeypatch.setitem(models_cli.COMMANDS, "list", broken)
    assert main(["models", "list"]) == 1
    line = assert_one_error_line(capsys.readouterr().err)
    assert "something went wrong" in line and str(logs.log_path()) in line
    logged = logs.log_path().read_text()
    assert "Traceback" in logged and "KeyError: 'a bug'" in logged and "hearth models list" in logged


def endless_chat(tmp_path, *extra: str) -> subprocess.Popen:
    """`hearth chat --save` on a model that writes until Ctrl+C (its 64k context is far off)."""
    from fixtures.gui import ENDLESS, speak
    from fixtures.tiny_models import write_tiny_gpt_oss

    model = write_tiny_gpt_oss(tmp_path / "long.gguf", context_length=65536)
    with Store() as store:
        speak(store, model, ENDLESS)
    return subprocess.Popen([sys.executable, "-m", "app.cli", "chat", "--model", str(model),
                             "--ctx", "65536", "--save", *extra, "Tell me everything"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ))


def wait_for_answer_text(proc: subprocess.Popen, chars: int = 20) -> str:
    seen = b""
    while len(seen) < chars:
        piece = proc.stdout.read1(64) if hasattr(proc.stdout, "read1") else proc.stdout.read(1)
        assert piece, proc.stderr.read().decode()
        seen += piece
    return seen.decode(errors="replace")


@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_ctrl_c_stops_the_answer_cleanly_and_saves_it_as_stopped(tmp_path, presses):
    """Ctrl+C used to segfault (exit 139) with the answer left `streaming`: on Python 3.11 a
    KeyboardInterrupt in Thread.join() freed the engine under a running llama_decode."""
    import signal
    import time

    proc = endless_chat(tmp_path)
    try:
        wait_for_answer_text(proc)
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    # 130, or death by SIGINT when the second press lands after the answer was saved and the
    # handler given back: a shell reports both as status 130.
    assert proc.returncode in (130, -signal.SIGINT), err.decode()
    assert b"Traceback" not in err
    with Store() as store:
        (conversation,) = store.conversations.list()
        answer = store.messages.list_for(conversation.id)[-1]
    assert answer.status == "cancelled" and len(answer.content) >= 20


def test_a_damaged_database_is_set_aside_with_one_note_and_the_command_works(capsys):
    data = Path(os.environ["HEARTH_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "hearth.db").write_bytes(b"not a database" * 200)
    assert main(["prompts", "list"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("hearth: note: Hearth's database was damaged") and "Traceback" not in err
    assert [p for p in data.iterdir() if p.name.startswith("hearth.db.damaged-")]
