"""The repo map on a large real code base: build time cold and warm, and prompt size.

    python benchmarks/repomap.py [--package openai] [--budget 6000] [--runs 3]

Takes an installed library's source from site-packages (default: openai, about
2,000 files) plus one failing test that uses it, and measures:

- tags, cold: every file parsed with tree-sitter (empty cache file);
- tags, warm: the same with the cache file the cold build wrote (keyed by
  mtime and size, so nothing is read or parsed);
- rank + render: PageRank from the failing test and the map within the budget;
- prompt tokens (characters / 4) of our context (files shown whole + map) against
  sending every file of the repository.

Medians over `--runs`; the cold build runs on a fresh cache file each time.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from map_context import build_context

from agent.fix.repomap import (
    TagCache,
    estimate_tokens,
    rank,
    render_map,
    tags_for_dir,
    tags_for_files,
)

TEST = """from {package} import OpenAI


def test_chat_completion_create():
    client = OpenAI(api_key="k", base_url="http://localhost:1/v1")
    completion = client.chat.completions.create(model="m", messages=[])
    assert completion.choices[0].message.content == "hi"
"""


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _source(package: str) -> tuple[Path, list[str]]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{package} is not an installed package: pip install {package}, or pick another")
    folder = Path(next(iter(spec.submodule_search_locations)))
    paths = sorted(p.relative_to(folder.parent).as_posix() for p in folder.rglob("*.py"))
    return folder.parent, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", default="openai")
    parser.add_argument("--budget", type=int, default=6000, help="context tokens (fix's default)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root, paths = _source(args.package)
    with tempfile.TemporaryDirectory() as tmp:
        cache_file = Path(tmp) / "tags.json"

        def cold() -> None:
            cache_file.unlink(missing_ok=True)
            cache = TagCache(cache_file)
            tags_for_dir(root, paths, cache)
            cache.save()

        cold_s = _median(cold, args.runs)
        size_kb = cache_file.stat().st_size / 1024
        warm_s = _median(lambda: tags_for_dir(root, paths, TagCache(cache_file)), args.runs)
        tags = tags_for_dir(root, paths, TagCache(cache_file))
    test_path = "tests/test_chat.py"
    test = TEST.format(package=args.package)
    tags.update(tags_for_files({test_path: test}))
    focus = {test_path: 1.0}
    rank_s = _median(lambda: rank(tags, focus, {"create", "OpenAI"}), args.runs)
    ranking = rank(tags, focus, {"create", "OpenAI"})
    render_s = _median(lambda: render_map(ranking, tags, args.budget), args.runs)
    files = {p: (root / p).read_text("utf-8", errors="replace") for p in paths}
    files[test_path] = test
    context = build_context(files, [test_path], test, args.budget)
    whole = sum(estimate_tokens(f"{p}\n```python\n{t}\n```") for p, t in files.items())
    print(f"{args.package}: {len(paths)} Python files, {sum(map(len, files.values())):,} chars")
    print(f"tags cold        {cold_s:7.2f} s   (cache file {size_kb:,.0f} KiB)")
    print(f"tags warm        {warm_s:7.2f} s   ({cold_s / warm_s:.0f}x faster, by mtime)")
    print(f"rank (PageRank)  {rank_s:7.2f} s")
    print(f"render map       {render_s:7.2f} s   (budget {args.budget} tokens)")
    print(f"context tokens   {context.tokens:7,}     files shown whole: {', '.join(context.full)}")
    print(f"whole repo       {whole:7,}     tokens ({whole / max(1, context.tokens):,.0f}x more)")
    print("map begins:\n" + "\n".join(context.map_text.splitlines()[:12]))


if __name__ == "__main__":
    main()
