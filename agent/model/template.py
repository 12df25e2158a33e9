"""A model's chat template, so that a reply can be started for the model (a prefix).

    template = ChatTemplate.from_gguf(path)
    prompt = template.render(messages, prefix="```python\ndef add(a, b):\n")

A chat endpoint always opens a fresh assistant turn: the model restates what it
was shown (a signature, a docstring) before it writes anything new, and a small
model often rewrites it, or stops after the docstring. Rendering the
conversation here and appending the reply's opening gives the model the text to
go on from: raw completion (llama-cpp-python's `create_completion`, or an
endpoint's `/v1/completions`) writes only what follows.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.model.base import Message

__all__ = ["ChatTemplate"]


class ChatTemplate(BaseModel):
    """A Jinja chat template, as a GGUF or a tokenizer config carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str
    eos_token: str = ""
    """Text of the end-of-sequence token (templates close a turn with it)."""

    def render(self, messages: Sequence[Message], prefix: str = "") -> str:
        """The prompt that opens the assistant's turn with `prefix` already written.

        The beginning-of-sequence token is left out: the completion call adds it, as
        a chat call does."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(self.template, self.eos_token, bos_token="")
        rendered = formatter(messages=[_message(m) for m in messages])
        return rendered.prompt + prefix

    @classmethod
    def from_gguf(cls, path: Path) -> ChatTemplate | None:
        """The template inside a GGUF file (its vocabulary only is loaded); None when it
        carries none or llama-cpp-python cannot read it."""
        from agent.model.embedded import no_amx_extra_buffers

        try:
            from llama_cpp import Llama

            with no_amx_extra_buffers(), _quiet_stderr():
                vocab = Llama(model_path=str(path), vocab_only=True, n_ctx=64, verbose=False)
        except (ImportError, ValueError):
            return None
        try:
            return cls.from_llama(vocab)
        finally:
            vocab.close()

    @classmethod
    def from_llama(cls, llama: Any) -> ChatTemplate | None:
        """The template of a loaded `llama_cpp.Llama`; None when its GGUF has none."""
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        eos = llama.detokenize([llama.token_eos()], special=True).decode(errors="replace")
        return cls(template=template, eos_token=eos)


def _message(message: Message) -> Any:
    return message.to_dict()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp warns on stderr that a vocabulary has no context length; nothing is wrong."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
