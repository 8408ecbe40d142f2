"""One widget per message: the user's text, and the assistant's reasoning block + answer."""

from __future__ import annotations

import re

from app.core.markdown import code_blocks, to_html_blocks
from app.core.provenance import Provenance
from app.gui import theme
from app.gui.chat.message_parts import (
    ActionBar,
    BlockView,
    ReasoningBlock,
    _label,
)
from app.gui.chat.tool_block import ToolBlocks
from app.gui.qt import QtCore, QtGui, QtWidgets, Signal

# A citation as the model writes it: "[3]", linked only in running text: tags, links, code
# spans and code blocks are kept as they are ("arr[1]" in code is not a citation).
_CITATION = re.compile(r"\[(\d{1,3})\]")
_PROTECTED = re.compile(r"(<pre[\s\S]*?</pre>|<code[\s\S]*?</code>|<a\b[\s\S]*?</a>|<[^>]+>)")

STATUS_NOTES = {
    "cancelled": "Stopped",
    "failed": "Failed",
}
RERUN_NOTES = {
    "identical": "re-run: identical to the original",
    "differs": "re-run: differs from the original",
    "stopped": "re-run: stopped before the end",
}


class UserMessage(QtWidgets.QFrame):
    action_requested = Signal(str, int)  # "edit" | "delete" | "branch-1" | "branch+1", message id

    def __init__(self, text: str, parent=None, *, message_id: int | None = None,
                 documents: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userMessage")
        self.message_id = message_id
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 6)
        self.attached = QtWidgets.QLabel("Attached: " + " · ".join(documents) if documents else "")
        self.attached.setObjectName("attachedLine")
        self.attached.setVisible(bool(documents))
        layout.addWidget(self.attached)
        self.body = _label(rich=False, object_name="userText")
        self.body.setText(text)
        self.actions = ActionBar()
        self.actions.prev_button.clicked.connect(lambda: self._emit("branch-1"))
        self.actions.next_button.clicked.connect(lambda: self._emit("branch+1"))
        self.actions.add("edit", "Edit", "Edit and resend as a new branch (Up arrow edits the "
                         "last one)").clicked.connect(lambda: self._emit("edit"))
        self.actions.add("delete", "Delete", "Delete this message and what follows it (undo "
                         "is offered)").clicked.connect(lambda: self._emit("delete"))
        self.actions.finish()
        self.actions.setVisible(message_id is not None)
        layout.addWidget(self.body)
        layout.addWidget(self.actions)

    @property
    def text(self) -> str:
        return self.body.text()

    def set_message_id(self, message_id: int) -> None:
        self.message_id = message_id
        self.actions.show()

    def _emit(self, action: str) -> None:
        if self.message_id is not None:
            self.action_requested.emit(action, self.message_id)


class AssistantMessage(QtWidgets.QFrame):
    # "copy" | "regenerate" | "continue" | "delete" | "info" | "branch-1" | "branch+1", id
    action_requested = Signal(str, int)

    def __init__(self, parent=None, *, hide_reasoning: bool = False,
                 message_id: int | None = None) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.provenance = Provenance()  # how it was made, once finished
        self._hide_reasoning = hide_reasoning  # the setting: the text is kept, never shown
        self.setObjectName("assistantMessage")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.reasoning = ReasoningBlock()
        self.reasoning.hide()
        self.answer = BlockView(rich=True, object_name="answerText")
        self.answer.linkActivated.connect(self._on_link)
        self.footer = QtWidgets.QLabel()
        self.footer.setObjectName("messageFooter")
        self.footer.setWordWrap(True)
        self.footer.hide()
        self.documents_line = QtWidgets.QLabel()
        self.documents_line.setObjectName("documentsLine")
        self.documents_line.setWordWrap(True)
        self.documents_line.hide()
        self._citations: set[int] = set()
        self.actions = ActionBar()
        self.actions.prev_button.clicked.connect(lambda: self._emit("branch-1"))
        self.actions.next_button.clicked.connect(lambda: self._emit("branch+1"))
        for key, text, tip in (
                ("copy", "Copy", "Copy the answer as Markdown"),
                ("regenerate", "Regenerate", "Answer again; this answer stays as a branch"),
                ("continue", "Continue", "Write more of this cut-off answer"),
                ("info", "Info", "How this answer was made, and Re-run exactly"),
                ("delete", "Delete", "Delete this answer (undo is offered)")):
            self.actions.add(key, text, tip).clicked.connect(lambda _=False, k=key: self._emit(k))
        self.actions.finish()
        self.actions.hide()  # shown once the answer is finished and saved
        layout.addWidget(self.documents_line)
        layout.addWidget(self.reasoning)
        self.tools = ToolBlocks()  # the answer's tool calls, in order (app/gui/chat/tool_block.py)
        layout.addWidget(self.tools)
        layout.addWidget(self.answer)
        layout.addWidget(self.footer)
        layout.addWidget(self.actions)
        self._answer = ""
        self.status = "streaming"

    @property
    def answer_text(self) -> str:
        return self._answer

    def _emit(self, action: str) -> None:
        if self.message_id is not None:
            self.action_requested.emit(action, self.message_id)

    def set_documents(self, plan: dict, tool_citations: tuple = ()) -> None:
        """What of the attached documents the model read: "report.pdf: whole · big.pdf: 12 of
        140 pages". Nothing left out goes unsaid; [n] in the answer becomes a citation link."""
        parts = [f"{d['name']}: {d['shown']}" for d in plan.get("documents", [])]
        partial = any(d["mode"] != "whole" for d in plan.get("documents", []))
        note = " — a larger context (Settings) fits more" if partial else ""
        self.documents_line.setText("Read " + " · ".join(parts) + note if parts else "")
        self.documents_line.setVisible(bool(parts))
        self._citations = {p["key"] for p in plan.get("passages", [])} | {
            c["key"] for c in tool_citations if isinstance(c.get("key"), int)}
        if self._answer:
            self.answer.set_blocks(self._render(self._answer))

    def _render(self, text: str) -> list[str]:
        blocks = to_html_blocks(text, dark=theme.is_dark(), split=True)
        if not self._citations:
            return blocks
        return [self._link_citations(block) for block in blocks]

    def _link_citations(self, html_text: str) -> str:
        def link(m: re.Match) -> str:
            key = int(m.group(1))
            return f'<a href="cite:{key}">[{key}]</a>' if key in self._citations else m.group(0)

        parts = _PROTECTED.split(html_text)  # odd indices: the protected spans
        return "".join(part if i % 2 else _CITATION.sub(link, part) for i, part in enumerate(parts))

    def _on_link(self, href: str) -> None:
        """A code block's Copy link copies it; a citation shows its passage; a web link opens
        in the browser, only on click."""
        if href.startswith("cite:"):
            self._emit(href)
            return
        if href.startswith("copy:"):
            blocks = code_blocks(self._answer)
            index = int(href[5:]) if href[5:].isdigit() else -1
            if 0 <= index < len(blocks):
                from app.gui import clipboard

                clipboard.copy(blocks[index], self)
        elif href.startswith(("http://", "https://", "mailto:")):
            QtGui.QDesktopServices.openUrl(QtCore.QUrl(href))

    def append_reasoning(self, text: str) -> None:
        self.reasoning.setVisible(not self._hide_reasoning)
        self.reasoning.append(text)

    def append_answer(self, text: str) -> None:
        if not self._answer and self.reasoning.text and self.reasoning.seconds is None:
            self.reasoning.fold()
        self._answer += text
        self.answer.set_blocks(self._render(self._answer))  # only its last block changes

    def finish(self, status: str, made: Provenance | None = None, error: str | None = None,
               effort: str | None = None) -> None:
        self.status = status
        made = self.provenance = made or Provenance()
        if self.reasoning.text and status in ("cancelled", "failed") and not self._answer:
            self.reasoning.stop(made.reasoning_s)  # it stopped mid-thought: keep it in view
        elif self.reasoning.text:
            seconds = self.reasoning.seconds if self.reasoning.seconds is not None else made.reasoning_s
            self.reasoning.fold(made.reasoning_s or seconds, made.reasoning_tokens)
        parts = []
        if status in STATUS_NOTES:
            parts.append(STATUS_NOTES[status] + (f": {error}" if error else ""))
        if made.finish_reason == "length":
            parts.append("Cut off at the length limit")
        if made.ttft_s:
            parts.append(f"{made.ttft_s:.2f} s to first token")
        if made.decode_tps:
            parts.append(f"{made.decode_tps:.1f} tokens/s")
        if made.generated_tokens:
            parts.append(f"{made.generated_tokens:,} tokens")
        if effort:
            parts.append(f"{effort} effort")
        if made.dropped_messages:
            parts.append(f"the {made.dropped_messages} oldest messages did not fit the context "
                         "and were left out")
        if made.rerun_outcome:
            parts.append(RERUN_NOTES[made.rerun_outcome])
        self.footer.setText(" · ".join(parts))
        self.footer.setVisible(bool(parts))
        self.setProperty("status", status)
        cut_off = status in ("cancelled", "failed") or made.finish_reason == "length"
        self.actions.buttons["continue"].setVisible(cut_off and bool(self._answer or self.reasoning.text))
        self.actions.setVisible(self.message_id is not None)

    def set_message_id(self, message_id: int) -> None:
        self.message_id = message_id

    @classmethod
    def from_saved(cls, answer: str, reasoning: str, status: str, made: Provenance | None,
                   error: str | None, effort: str | None, *,
                   hide_reasoning: bool = False, message_id: int | None = None) -> "AssistantMessage":
        widget = cls(hide_reasoning=hide_reasoning, message_id=message_id)
        made = made or Provenance()
        if made.documents or made.citations:
            widget.set_documents(made.documents or {}, made.citations)
        if reasoning:
            widget.append_reasoning(reasoning)
            widget.reasoning.fold(made.reasoning_s)
        widget._answer = answer
        widget.answer.set_blocks(widget._render(answer))
        widget.finish(status, made, error, effort)
        return widget
