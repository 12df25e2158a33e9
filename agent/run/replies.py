"""How long each kind of reply may run, and where it ends.

    ask(messages, "file:calc.py", temperature=0.0, **file_reply(spec, target))
    ask(messages, "feedback", temperature=0.0, **edit_reply(files, "search-replace"))

A small model rarely stops by itself: without stop sequences its replies run
to `max_tokens`, and every token past the content is paid for in seconds. So
each reply gets stop sequences after the block it was asked for and a
`max_tokens` sized from what it must hold: a file, a multiple of the spec and
the interface it implements; an edit, a multiple of the files it may edit
(SEARCH quotes them, REPLACE rewrites them); a plan, its bounded schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NotRequired, TypedDict

__all__ = [
    "BODY_STOPS",
    "FENCE_STOP",
    "ReplyOpts",
    "body_reply",
    "code_tokens",
    "edit_reply",
    "file_reply",
    "guided",
    "plan_reply",
    "rewrite_reply",
]

FENCE_STOP = "\n```\n"
"""A closing fence on its own line: the end of the one ```python block asked for. (An
opening fence carries a language, ```` ```python ````, so it does not match.)"""

FILE_MIN, FILE_MAX = 384, 2048
EDIT_MIN, EDIT_MAX = 384, 2048
PLAN_MIN, PLAN_MAX = 256, 768
_CHARS_PER_TOKEN = 3
"""Code tokenizes denser than prose (indentation, operators): err on the long side."""
_SLACK = 160
"""Tokens of fence, path line and a sentence around the content."""


class ReplyOpts(TypedDict):
    """The completion options that shape one reply."""

    max_tokens: int
    stop: list[str]
    code: NotRequired[str]


_LANGUAGES = {".py": "python"}


def guided(shape: ReplyOpts, path: str) -> ReplyOpts:
    """`shape` for a reply that carries file `path` whole: its language named, so a model
    that can guide its decoding by it does (`agent.model.guide`)."""
    language = next((lang for ext, lang in _LANGUAGES.items() if path.endswith(ext)), None)
    return {**shape, "code": language} if language else shape


def code_tokens(*texts: str) -> int:
    """A generous token count of code or spec text."""
    return sum(len(t) for t in texts) // _CHARS_PER_TOKEN + 1


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def file_reply(spec: str, interface: Iterable[str] = ()) -> ReplyOpts:
    """One whole new file in one fenced block: about twice the spec (a file restates the
    signatures and docstrings it was given, then adds the bodies) plus its interface."""
    size = 2 * code_tokens(spec) + 4 * code_tokens(*interface) + _SLACK
    return {"max_tokens": _clamp(size, FILE_MIN, FILE_MAX), "stop": [FENCE_STOP]}


BODY_STOPS = ("\nassert ", "\nprint(")
"""Where a completed skeleton's module goes on with tries of its own (`assert f(1) == 2`,
`print(f(3))` at the top level): nothing the file needs, and an assert that fails
fails the whole module at import."""


BODY_MIN = 256
BODY_ROOM = 160
"""Tokens past the skeleton a completed skeleton may take: its bodies, and a little."""


def body_reply(code: str) -> ReplyOpts:
    """The spec's own skeleton completed (`agent.new.prompts.code_to_complete`): the
    skeleton restated and its bodies, so its size and some room, not a multiple of the
    whole spec. (Sized from the spec, a HumanEval skeleton got 560 tokens; the 6% of
    samples that ran that far took 28% of the batch's model seconds and none parsed.)
    It also ends where top-level tries of the code begin."""
    size = code_tokens(code) + max(BODY_ROOM, code_tokens(code) // 2)
    return {"max_tokens": _clamp(size, BODY_MIN, FILE_MAX), "stop": [FENCE_STOP, *BODY_STOPS]}


def rewrite_reply(source: str) -> ReplyOpts:
    """A file sent back corrected (the syntax gate): its size again, and some room."""
    size = code_tokens(source) * 3 // 2 + _SLACK
    return {"max_tokens": _clamp(size, FILE_MIN, FILE_MAX), "stop": [FENCE_STOP]}


def edit_reply(files: Mapping[str, str], edit_format: str = "search-replace") -> ReplyOpts:
    """Edits to the files shown: no edit needs more than quoting and rewriting them all.

    With one file to edit, one block is enough (its SEARCH can span whatever must
    change), so the reply ends at the first closing fence on its own line: the fence
    after a ```` ``` ````-wrapped block, its `>>>>>>> REPLACE` kept. With several files,
    several blocks may be needed and only the size bounds the reply.
    """
    shown = code_tokens(*files.values())
    stop = [FENCE_STOP] if len(files) == 1 else []
    # whole files: each once; search/replace: quoted once in SEARCH, rewritten in REPLACE
    size = shown * 3 // 2 + _SLACK if edit_format == "whole" else 2 * shown + 2 * _SLACK
    return {"max_tokens": _clamp(size, EDIT_MIN, EDIT_MAX), "stop": stop}


def plan_reply(required_names: int) -> ReplyOpts:
    """A plan: a line or two per file and name; the schema bounds the rest. Unconstrained,
    a fenced plan ends at its closing fence (JSON strings hold no raw newline)."""
    size = 192 + 48 * required_names
    return {"max_tokens": _clamp(size, PLAN_MIN, PLAN_MAX), "stop": [FENCE_STOP]}
