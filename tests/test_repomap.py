"""The repo map: tags from the tree-sitter query, the mtime cache, PageRank, the budget."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixture_repos import big_repo_files, shop_files

from agent.fix.repomap import (
    Definition,
    TagCache,
    estimate_tokens,
    extract_tags,
    is_test_path,
    pagerank,
    rank,
    render_map,
    tags_for_dir,
    tags_for_files,
)

SOURCE = """
import os
from pkg.helpers import helper, other as alias

LIMIT: int = 3
TABLE = {}


class Base:
    pass


class Thing(Base):
    def method(self, x: int) -> int:
        def local():
            return 1
        return helper(x) + self.size + local()


def top(a,
        b=2):
    return os.path.join(str(a), str(b))
"""


def test_definitions_have_kind_scope_line_and_signature() -> None:
    tags = extract_tags("pkg/thing.py", SOURCE)
    got = {(d.name, d.kind, d.scope) for d in tags.defs}
    assert got == {
        ("LIMIT", "constant", ""),
        ("TABLE", "constant", ""),
        ("Base", "class", ""),
        ("Thing", "class", ""),
        ("method", "function", "Thing"),
        ("top", "function", ""),
    }
    top = next(d for d in tags.defs if d.name == "top")
    assert (top.line, top.signature) == (20, "def top(a, b=2):")
    assert [d.line for d in tags.defs] == sorted(d.line for d in tags.defs)


def test_references_keep_counts_and_mark_attributes() -> None:
    refs = extract_tags("pkg/thing.py", SOURCE).refs
    assert {"helper", "other", "Base", "str", "int"} <= set(refs)
    assert ".size" in refs and ".join" in refs
    assert refs.count("str") == 2


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_a.py", True),
        ("tests/helpers.py", True),
        ("pkg/test/util.py", True),
        ("test_top.py", True),
        ("pkg/thing_test.py", True),
        ("conftest.py", True),
        ("pkg/testing.py", False),
        ("pkg/contest.py", False),
    ],
)
def test_test_paths(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected


def test_pagerank_matches_the_closed_form_of_a_two_node_graph() -> None:
    ranks = pagerank(["a", "b"], {("a", "b"): 1.0})
    # b is dangling: r_a = 0.15/2 + 0.85 r_b / 2 and r_a + r_b = 1  =>  r_a = 0.5 / 1.425
    assert ranks["a"] == pytest.approx(0.5 / 1.425, abs=1e-6)
    assert ranks["b"] == pytest.approx(1 - 0.5 / 1.425, abs=1e-6)


@pytest.mark.parametrize("focus", [None, {"a": 1.0}, {"c": 2.0, "d": 1.0}])
def test_pagerank_sums_to_one_and_follows_the_focus(focus: dict[str, float] | None) -> None:
    edges = {("a", "b"): 1.0, ("b", "c"): 2.0, ("c", "a"): 1.0, ("d", "a"): 0.5}
    ranks = pagerank(["a", "b", "c", "d"], edges, focus)
    assert sum(ranks.values()) == pytest.approx(1.0)
    if focus is None:
        assert ranks["d"] == min(ranks.values())  # nothing points at d
    else:
        unfocused = pagerank(["a", "b", "c", "d"], edges)
        assert all(ranks[n] > unfocused[n] for n in focus if n != "c")


def test_a_symmetric_cycle_ranks_evenly() -> None:
    ranks = pagerank("xyz", {("x", "y"): 1.0, ("y", "z"): 1.0, ("z", "x"): 1.0})
    assert max(ranks.values()) - min(ranks.values()) < 1e-9


def test_ranking_from_a_failing_test_reaches_what_it_calls_two_files_away() -> None:
    files = big_repo_files(120)
    tags = tags_for_files(files)
    ranking = rank(tags, {"tests/test_ledger.py": 1.0}, {"balance"})
    code_files = [p for p in ranking.files if not is_test_path(p)]
    assert code_files[:2] == ["ledger/accounts.py", "ledger/rates.py"]
    assert [d.name for _, d in ranking.definitions[:2]] == ["balance", "rate_for"]


@pytest.mark.parametrize("budget", [0, 20, 100, 400, 2000])
def test_the_map_fits_its_budget_and_grows_with_it(budget: int) -> None:
    files = shop_files(())
    tags = tags_for_files(files)
    ranking = rank(tags, {"tests/test_cart.py": 1.0})
    text = render_map(ranking, tags, budget)
    assert estimate_tokens(text) <= budget
    bigger = render_map(ranking, tags, budget * 2 + 50)
    whole = render_map(ranking, tags, 10**6)
    assert len(bigger) > len(text) if text != whole else bigger == whole
    assert all(line in bigger for line in text.splitlines() if line.endswith(":"))


def test_methods_are_shown_under_their_class() -> None:
    files = shop_files(())
    tags = tags_for_files(files)
    text = render_map(rank(tags, {"tests/test_cart.py": 1.0}), tags, 2000)
    lines = text.splitlines()
    at = lines.index("shop/cart/cart.py:")
    assert "  class Cart:" in lines[at:]
    assert "    def total(self, percent: int = 0) -> int:" in lines[at:]


def _write(root: Path, files: dict[str, str]) -> list[str]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return sorted(files)


def test_the_cache_is_keyed_by_mtime_and_survives_on_disk(tmp_path: Path) -> None:
    paths = _write(tmp_path / "repo", shop_files(()))
    cache_file = tmp_path / "cache.json"
    cold = TagCache(cache_file)
    first = tags_for_dir(tmp_path / "repo", paths, cold)
    cold.save()
    python = [p for p in paths if p.endswith(".py")]
    assert (cold.hits, cold.misses) == (0, len(python))
    warm = TagCache(cache_file)
    assert tags_for_dir(tmp_path / "repo", paths, warm) == first
    assert (warm.hits, warm.misses) == (len(python), 0)
    changed = tmp_path / "repo" / "shop/money.py"
    changed.write_text(
        changed.read_text() + "\n\ndef euros(c: int) -> float:\n    return c / 100\n"
    )
    os.utime(changed, ns=(1, 1))
    again = TagCache(cache_file)
    tags = tags_for_dir(tmp_path / "repo", paths, again)
    assert (again.hits, again.misses) == (len(python) - 1, 1)
    assert (
        Definition("euros", "function", 9, "def euros(c: int) -> float:")
        in tags["shop/money.py"].defs
    )


def test_an_unreadable_cache_file_is_ignored(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.json"
    cache_file.write_text("{not json")
    cache = TagCache(cache_file)
    assert tags_for_files({"a.py": "def f():\n    pass\n"}, cache)["a.py"].defs[0].name == "f"
    assert cache.misses == 1
