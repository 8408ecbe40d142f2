"""Building a turn's request: the model's settings, then the conversation's preset, then
what the person chose for this one message — worked out afresh for every turn, so switching
models or presets can never leave stale settings behind.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, replace

from app.core import model_library, prompt_library, sampling_defaults
from app.core.provenance import Provenance
from app.core.turns import TurnRequest
from common.errors import UserError
from inference.sampling import Sampling
from storage import CURRENT_LEAF, Store
from storage.prompts import Prompt


@dataclass(frozen=True)
class TurnDefaults:
    """What a turn in this conversation uses unless the person says otherwise."""

    effort: str
    sampling: Sampling
    instructions: str | None
    preset: Prompt | None
    preset_error: str | None = None  # the preset could not be filled: why (it is then left out)
    # Where each sampling value came from, and the family whose model card gave them.
    sources: dict | None = None
    family: str | None = None
    thinking: bool | None = None  # the <think> switch this was worked out for

    def request_fields(self) -> dict:
        """What every TurnRequest built from these defaults carries about its sampling."""
        return {"sampling_sources": tuple(sorted((self.sources or {}).items())),
                "model_family": self.family, "thinking": self.thinking}


def defaults_for(store: Store, conversation_id: int | None,
                 model_path: str | os.PathLike | None, *,
                 thinking: bool | None = None,
                 prefs: model_library.ModelPrefs | None = None,
                 cached_only: bool = False) -> TurnDefaults:
    """The model's own settings (or the app's defaults) over its recommended sampling (its
    file's, its model card's, llama.cpp's: app/core/sampling_defaults.py), with the
    conversation's preset over them: its instructions, its effort and its temperature.
    `thinking`: a <think> model's switch, which picks between a card's two sets. `prefs`:
    the model's settings read from another store (`hearth chat` without --save works on an
    in-memory one). `cached_only`: never read a model header now (the GUI thread, while a
    model is still loading)."""
    if prefs is None:
        prefs = (model_library.prefs(store, model_path) if model_path is not None
                 else model_library.base_prefs(store))
    resolved = prefs.resolved(model_library.traits(model_path, cached_only=cached_only), thinking)
    effort = prefs.effort
    instructions = preset = error = None
    if conversation_id:
        try:
            instructions, preset = prompt_library.instructions_for(store, conversation_id)
        except prompt_library.PromptVariableError as exc:
            error = str(exc)
    if preset is not None:
        if preset.temperature is not None:
            resolved = resolved.with_value("temperature", preset.temperature,
                                           sampling_defaults.PRESET)
        effort = preset.effort or effort
    sampling = resolved.sampling(grammar=prefs.grammar, max_tokens=prefs.max_tokens)
    return TurnDefaults(effort, sampling, instructions, preset, error, resolved.sources,
                        resolved.family, thinking)


def request_for(store: Store, conversation_id: int, text: str, *,
                model_path: str | os.PathLike | None, effort: str | None = None,
                attachments: tuple[int, ...] = (), parent_id: object = CURRENT_LEAF,
                sampling: Sampling | None = None, thinking: bool | None = None) -> TurnRequest:
    """A new message. `effort`: the person's choice for this turn (the composer's slider, or
    `--effort`), else the preset's, else the model's. `sampling` replaces the defaults whole
    (the command line's `--temperature` and friends). `thinking`: the composer's <think>
    switch, for models that have one."""
    d = defaults_for(store, conversation_id, model_path, thinking=thinking)
    return TurnRequest(conversation_id, text, effort or d.effort, d.instructions,
                       sampling or d.sampling, parent_id=parent_id,
                       attachments=tuple(attachments), **d.request_fields())


def edit_request(store: Store, message_id: int, text: str, *,
                 model_path: str | os.PathLike | None, effort: str | None = None,
                 attachments: tuple[int, ...] = (), thinking: bool | None = None) -> TurnRequest:
    """Edit and resend: the new text as a sibling of `message_id`, keeping its documents."""
    original = store.messages.get(message_id)
    if original is None or original.role != "user":
        raise UserError("That message no longer exists, so it cannot be edited.")
    kept = tuple(d.id for d in store.documents.for_message(original.id))
    return request_for(store, original.conversation_id, text, model_path=model_path,
                       effort=effort, parent_id=original.parent_id, thinking=thinking,
                       attachments=kept + tuple(a for a in attachments if a not in kept))


def regenerate_request(store: Store, answer_id: int, *, model_path: str | os.PathLike | None,
                       effort: str | None = None, thinking: bool | None = None) -> TurnRequest:
    """Another answer to the question `answer_id` answered, as a new branch."""
    answer = store.messages.get(answer_id)
    if answer is None or answer.parent_id is None:
        raise UserError("That answer no longer exists, so it cannot be regenerated.")
    d = defaults_for(store, answer.conversation_id, model_path, thinking=thinking)
    return TurnRequest(answer.conversation_id, effort=effort or d.effort,
                       instructions=d.instructions, sampling=d.sampling,
                       regenerate=answer.parent_id, **d.request_fields())


def continue_request(store: Store, answer_id: int, *,
                     model_path: str | os.PathLike | None) -> TurnRequest:
    """More of a cut-off answer, at the effort it was written with."""
    answer = store.messages.get(answer_id)
    if answer is None or answer.role != "assistant":
        raise UserError("That answer no longer exists, so it cannot be continued.")
    made = Provenance.from_json(answer.stats)
    d = defaults_for(store, answer.conversation_id, model_path, thinking=made.thinking)
    return TurnRequest(answer.conversation_id, effort=answer.effort or d.effort,
                       instructions=d.instructions, sampling=d.sampling, continue_id=answer_id,
                       **d.request_fields())


def replay_request(store: Store, answer_id: int) -> TurnRequest:
    """"Re-run exactly": the same question, settings, seed, instructions and date, as a new
    branch. UserError where the answer cannot be reproduced exactly (it was continued, or it
    predates provenance records)."""
    answer = store.messages.get(answer_id)
    if answer is None or answer.role != "assistant" or answer.parent_id is None:
        raise UserError(f"There is no answer {answer_id} to re-run.")
    made = Provenance.from_json(answer.stats)
    if not made.replayable:
        raise UserError(made.why_not_replayable or "This answer cannot be re-run exactly.")
    sampling = made.sampling
    if made.finish_reason == "cancelled":  # it was stopped: replay exactly as far as it got
        sampling = replace(sampling, max_tokens=made.generated_tokens)
    now = _dt.datetime.fromisoformat(made.prompt_date) if made.prompt_date else None
    return TurnRequest(answer.conversation_id, effort=made.effort or answer.effort or "medium",
                       instructions=made.instructions, sampling=sampling,
                       regenerate=answer.parent_id, now=now, reuse_limit=made.cached_tokens,
                       rerun_of=answer.id, thinking=made.thinking,
                       sampling_sources=tuple(sorted((made.sampling_sources or {}).items())),
                       model_family=made.model_family)
