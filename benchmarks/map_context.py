"""The repo map's context before localization: some files whole, the map for the rest.

    context = build_context(files, pointed=["tests/test_x.py"], mentioned_text=test, budget=6000)
    prompt_part = context.render()

`greenloop fix` no longer sends this (its context is `agent.fix.excerpts`, after
localization); the benchmarks keep it as the baseline they measure against
(`localize.py`: would the map alone have shown the buggy line; `repomap.py`: the
prompt's size). Imported by name, as a sibling module of the benchmark run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.fix.repomap import (
    TagCache,
    estimate_tokens,
    is_test_path,
    rank,
    render_map,
    tags_for_files,
)

__all__ = ["Context", "build_context"]


@dataclass(frozen=True)
class Context:
    """What a prompt shows of the repository: some files whole, the map for the rest."""

    full: dict[str, str]
    map_text: str

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.render())

    def render(self) -> str:
        parts = [f"{path}\n```python\n{text.rstrip()}\n```" for path, text in self.full.items()]
        if self.map_text:
            parts.append(
                "Map of the rest of the repository (signatures of the most relevant "
                "definitions, by file):\n" + self.map_text
            )
        return "\n\n".join(parts)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def build_context(
    files: Mapping[str, str],
    pointed: Iterable[str],
    mentioned_text: str,
    budget: int,
    *,
    cache: TagCache | None = None,
    max_full: int = 4,
    full_share: float = 0.6,
) -> Context:
    """Choose the files to show whole and render the map, in at most `budget` tokens.

    `pointed` are the files the failures point at (failing tests, traceback
    frames), most relevant first: they seed the ranking and are shown whole
    when they fit; then the best-ranked code files. `mentioned_text` (the
    failing tests' code, tracebacks) names the identifiers that weigh ten times.
    """
    tags = tags_for_files(files, cache)
    pointed = [p for p in dict.fromkeys(pointed) if p in files]
    defined = {d.name for t in tags.values() for d in t.defs}
    mentioned = set(_IDENT.findall(mentioned_text)) & defined
    ranking = rank(tags, dict.fromkeys(pointed, 1.0), mentioned)
    # what the focus uses (not what everything uses, like a types module)
    ranked_code = [p for p in ranking.used if not is_test_path(p) and p not in pointed]
    full: dict[str, str] = {}
    used = 0
    for path in [*pointed, *ranked_code[:max_full]]:
        if len(full) >= max_full:
            break
        cost = estimate_tokens(Context({path: files[path]}, "").render()) + 1
        if used + cost <= budget * full_share:
            full[path] = files[path]
            used += cost
    header = estimate_tokens(Context({}, " ").render())
    map_text = render_map(ranking, tags, budget - used - header - 1, exclude=full)
    return Context(full, map_text)
