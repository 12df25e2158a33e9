"""A scripted model for whole folders of tasks: each task answered from its reference solution.

The fake OpenAI server calls it for every request. It tells the tasks apart by
their spec's title (the first line, which every prompt quotes), answers plan
requests with the solution's files, "write the file X" with the solution's X,
and any feedback request with a reply that is no edit. Tasks named in `wrong`
get a stub instead of the solution until the spec says an attempt failed (the
batch's --tries context), so they go green on the second try; tasks named in
`broken` always get the stub; `slow` delays a task's file replies.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fake_openai import Reply, Request
from scripted_agent import FILE_ASK, bare_ask_path

RETRY_MARK = "attempt 1 at this task failed"


_SOURCES = (".py", ".js", ".mjs", ".cjs", ".ts", ".mts", ".go", ".rs")


def _solution(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.suffix in _SOURCES and "__pycache__" not in p.parts
    }


class TaskScript:
    """Replies for many tasks at once; counts requests per task (thread-safe)."""

    def __init__(
        self,
        tasks: dict[str, tuple[str, dict[str, str]]],
        wrong: Iterable[str] = (),
        broken: Iterable[str] = (),
        slow: Mapping[str, float] | None = None,
    ) -> None:
        """`tasks`: name -> (the spec's first line, the solution files)."""
        self.tasks = tasks
        self.wrong = set(wrong)
        self.broken = set(broken)
        self.slow = dict(slow or {})
        self.asked: Counter[str] = Counter()
        self.plans: Counter[str] = Counter()
        self.starts: Counter[str] = Counter()
        """Runs begun per task: asks for the first of its files (the plan may not be asked)."""
        self.retry_prompts: list[str] = []
        self._lock = threading.Lock()

    @classmethod
    def from_folders(cls, tasks_dir: Path, solutions_dir: Path, **kw: Any) -> TaskScript:
        """Every task folder of `tasks_dir`, its solution from `solutions_dir/<name>/`."""
        tasks = {}
        for folder in sorted(p for p in tasks_dir.iterdir() if p.is_dir()):
            title = (folder / "spec.md").read_text().splitlines()[0].strip()
            tasks[folder.name] = (title, _solution(solutions_dir / folder.name))
        return cls(tasks, **kw)

    def _which(self, prompt: str) -> str:
        # the longest title first: "# Add" is in "# Add, in JavaScript" too
        for name, (title, _) in sorted(self.tasks.items(), key=lambda t: -len(t[1][0])):
            if title in prompt:
                return name
        # a bare ask quotes no title: told apart by the names its code defines
        defining = [n for n, (_, files) in self.tasks.items() if bare_ask_path(prompt, files)]
        if len(defining) == 1:
            return defining[0]
        raise LookupError(f"no task's title in the prompt: {prompt[:200]!r}")

    def __call__(self, request: Request) -> Reply:
        prompt = request.prompt
        name = self._which(prompt)
        files = self.tasks[name][1]
        retry = RETRY_MARK in prompt
        planning = "JSON plan" in prompt
        with self._lock:
            self.asked[name] += 1
            self.plans[name] += planning
            if retry:
                self.retry_prompts.append(prompt)
        if planning:
            plan = [{"path": p, "purpose": "part of the solution", "interface": []} for p in files]
            return Reply(text=json.dumps({"files": plan, "test_command": "python -m pytest -q"}))
        wanted = FILE_ASK.search(prompt)
        path = wanted.group(1) if wanted else bare_ask_path(prompt, files)
        if path in files:
            with self._lock:
                self.starts[name] += path == min(files)
            code = files[path]
            if name in self.broken or (name in self.wrong and not retry):
                code = "raise ImportError('not written yet')\n"
            return Reply(text=f"```python\n{code}\n```", latency=self.slow.get(name, 0.0))
        return Reply(text="I cannot help with that.")
