"""A scripted "model" for end-to-end runs: replies chosen by what the prompt asks for.

The fake OpenAI server calls it for every request; it answers plan requests with
the plan, "write the file X" with the next reply queued for X, and feedback
requests with the next feedback reply (the last reply repeats when a queue runs dry).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence

from fake_openai import Reply, Request

from agent.languages import language_of

FILE_ASK = re.compile(r"(?:Write the file|Complete this \w+ code:) `([^`]+)`")
BARE_ASK = re.compile(r"^Complete this \w+ (?:function|code)\. ")
"""A restart's bare ask: the spec's code alone, no path (`completion_messages`)."""
_DEFINES = re.compile(
    r"^(?:async def|def|class|(?:export )?(?:async )?function|func|(?:pub )?fn) (\w+)", re.M
)
_ASKED_FENCE = re.compile(r"in one ```(\w+) block")


def bare_ask_path(prompt: str, files: Mapping[str, str | Sequence[str]]) -> str | None:
    """The file a bare ask is for: the one whose code (or replies) define a name it shows."""
    if not BARE_ASK.match(prompt):
        return None
    names = set(_DEFINES.findall(prompt))
    fence = _ASKED_FENCE.search(prompt)
    for path, code in files.items():
        language = language_of(path)
        if fence and (language is None or language.fence != fence.group(1)):
            continue  # a file of another language
        texts = [code] if isinstance(code, str) else code
        if any(names & set(_DEFINES.findall(t)) for t in texts):
            return path
    return None


def fenced(path: str, code: str) -> str:
    return f"Here is `{path}`:\n\n```python\n{code.strip()}\n```\n"


def search_replace(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


class Script:
    """Replies by kind of request; records which kinds were asked, in order."""

    def __init__(
        self,
        plan: str,
        files: Mapping[str, Sequence[str]],
        feedback: Sequence[str] = (),
    ) -> None:
        self.plan = plan
        self.files = {path: list(replies) for path, replies in files.items()}
        self.feedback = list(feedback)
        self.asked: list[str] = []
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        prompt = request.prompt
        with self._lock:
            self.prompts.append(prompt)
            if "JSON plan" in prompt or "plan is invalid" in prompt:
                self.asked.append("plan")
                return Reply(text=self.plan)
            wanted = FILE_ASK.search(prompt)
            path = wanted.group(1) if wanted else bare_ask_path(prompt, self.files)
            if path:
                self.asked.append(f"file:{path}")
                return Reply(text=_next(self.files.get(path, ["no idea"])))
            self.asked.append("feedback")
            return Reply(text=_next(self.feedback or ["I cannot help."]))


def _next(queue: list[str]) -> str:
    return queue.pop(0) if len(queue) > 1 else queue[0]
