"""How much of the context the next turn would take: the composer's meter. The prompt as it
would be rendered now (an empty chat too, tool declarations included) and the documents' plan,
attachments not yet sent included. Runs on the engine's thread: tokenizing can take a while."""

from __future__ import annotations

from app.core import documents
from app.core.turns import history_for
from common.errors import UserError
from common.units import estimate_tokens
from inference.context import build_messages, surely_too_long
from storage import Store


def measure(store: Store, engine, conversation_id: int | None, *, instructions: str | None,
            effort: str, thinking: bool | None = None, pending: tuple[int, ...] = (),
            tool_options: dict | None = None) -> int:
    history = history_for(store, conversation_id, -1) if conversation_id else []
    try:
        text = engine.render(build_messages(instructions, history), effort, thinking=thinking,
                             **(tool_options or {}))
        # Never tokenize megabytes for a meter: a surely-too-long chat is estimated.
        used = estimate_tokens(text) if surely_too_long(text, engine.n_ctx) \
            else len(engine.tokenize(text))
    except UserError:  # a template that needs a question to render: only messages count
        used = 0
    if pending or (conversation_id and store.documents.for_conversation(conversation_id)):
        budget = documents.documents_budget(engine.n_ctx, used)
        plan = documents.plan_for_turn(store, documents.count_tokens(engine), conversation_id,
                                       "", budget, extra=pending)
        used += plan.tokens
    return used
