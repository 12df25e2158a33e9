"""The benchmarks' context before localization (`benchmarks/map_context.py`): the repo map
with the pointed files shown whole, within the budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fixture_repos import big_repo_files, shop_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from map_context import build_context


@pytest.mark.parametrize("budget", [1500, 3000, 6000])
def test_context_for_500_files_fits_and_shows_the_needed_definitions(budget: int) -> None:
    files = big_repo_files(500)
    test = files["tests/test_ledger.py"]
    context = build_context(files, ["tests/test_ledger.py"], test, budget)
    assert context.tokens <= budget
    text = context.render()
    assert "def balance(" in text and "def rate_for(" in text
    assert set(context.full) >= {"ledger/accounts.py"}


def test_the_map_leaves_out_test_functions_and_files_shown_whole() -> None:
    files = shop_files(())
    context = build_context(files, ["tests/test_cart.py", "shop/cart/cart.py"], "", 800)
    assert "shop/cart/cart.py" in context.full
    assert "shop/cart/cart.py:" not in context.map_text
    assert "def test_" not in context.map_text
