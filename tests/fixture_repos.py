"""Fixture repositories for `greenloop fix`, made in tmp: real git, packages, injected bugs.

    root = make_repo(tmp_path / "shop", shop_files(bugs={"discount"}))
    files = big_repo_files(500)            # a 500-file repository with one bug

Each bug is a (path, good, bad) substitution: the repository is written with
`bad`, and `fix_reply(bug)` is the search/replace block that puts `good` back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import git
from scripted_agent import search_replace

__all__ = [
    "BIG_FIX",
    "BUGS",
    "big_repo_files",
    "fix_reply",
    "make_repo",
    "shop_files",
    "tree_bytes",
]

PYPROJECT = '[project]\nname = "shop"\nversion = "0.1"\n\n[tool.pytest.ini_options]\n'
PYPROJECT += 'testpaths = ["tests"]\n'

_SHOP: dict[str, str] = {
    "pyproject.toml": PYPROJECT,
    "README.md": "# shop\n\nA small shop, for greenloop's tests.\n",
    "shop/__init__.py": '"""A small shop."""\n',
    "shop/money.py": (
        "def cents(amount: float) -> int:\n    return round(amount * 100)\n\n\n"
        "def fmt(cents_: int) -> str:\n    return f'{cents_ // 100}.{cents_ % 100:02d}'\n"
    ),
    "shop/catalog/__init__.py": "",
    "shop/catalog/items.py": (
        "from dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass Item:\n"
        "    name: str\n    price: int\n\n\ndef make_item(name: str, price: int) -> Item:\n"
        "    return Item(name.strip(), price)\n"
    ),
    "shop/catalog/search.py": (
        "from shop.catalog.items import Item\n\n\n"
        "def find(items: list[Item], query: str) -> list[Item]:\n"
        "    return [i for i in items if query.lower() in i.name.lower()]\n"
    ),
    "shop/cart/__init__.py": "",
    "shop/cart/pricing.py": (
        "def discount(total: int, percent: int) -> int:\n"
        "    return total - total * percent // 100\n"
    ),
    "shop/cart/cart.py": (
        "from shop.cart.pricing import discount\nfrom shop.catalog.items import Item\n\n\n"
        "class Cart:\n    def __init__(self) -> None:\n        self.items: list[Item] = []\n\n"
        "    def add(self, item: Item) -> None:\n        self.items.append(item)\n\n"
        "    def total(self, percent: int = 0) -> int:\n"
        "        return discount(sum(i.price for i in self.items), percent)\n"
    ),
    "shop/util/__init__.py": "",
    "shop/util/text.py": (
        "def slug(text: str) -> str:\n    return '-'.join(text.lower().split())\n"
    ),
    "shop/util/numbers.py": (
        "def clamp(value: int, low: int, high: int) -> int:\n"
        "    return max(low, min(high, value))\n"
    ),
    "shop/orders/__init__.py": "",
    "shop/orders/status.py": "NEW = 'new'\nPAID = 'paid'\nSHIPPED = 'shipped'\n",
    "shop/orders/order.py": (
        "from shop.cart.cart import Cart\nfrom shop.orders import status\n\n\n"
        "class Order:\n    def __init__(self, cart: Cart) -> None:\n"
        "        self.cart = cart\n        self.state = status.NEW\n\n"
        "    def pay(self) -> None:\n        self.state = status.PAID\n"
    ),
    "shop/report/__init__.py": "",
    "shop/report/summary.py": (
        "from shop.money import fmt\nfrom shop.orders.order import Order\n\n\n"
        "def summary(order: Order) -> str:\n"
        "    return f'{order.state}: {fmt(order.cart.total())}'\n"
    ),
    "tests/conftest.py": (
        "import pytest\n\nfrom shop.catalog.items import make_item\n\n\n@pytest.fixture()\n"
        "def items():\n    return [make_item('Tea', 250), make_item('Green tea', 300)]\n"
    ),
    "tests/test_money.py": (
        "from shop.money import cents, fmt\n\n\ndef test_cents():\n    assert cents(2.5) == 250\n"
        "\n\ndef test_fmt():\n    assert fmt(1205) == '12.05'\n"
    ),
    "tests/test_catalog.py": (
        "from shop.catalog.search import find\n\n\ndef test_find(items):\n"
        "    assert [i.name for i in find(items, 'green')] == ['Green tea']\n"
    ),
    "tests/test_cart.py": (
        "from shop.cart.cart import Cart\n\n\ndef test_total(items):\n    cart = Cart()\n"
        "    for item in items:\n        cart.add(item)\n    assert cart.total() == 550\n\n\n"
        "def test_total_with_discount(items):\n    cart = Cart()\n"
        "    for item in items:\n        cart.add(item)\n    assert cart.total(10) == 495\n"
    ),
    "tests/test_text.py": (
        "from shop.util.numbers import clamp\nfrom shop.util.text import slug\n\n\n"
        "def test_slug():\n    assert slug('Green Tea') == 'green-tea'\n\n\n"
        "def test_clamp():\n    assert clamp(12, 0, 10) == 10\n"
    ),
    "tests/test_orders.py": (
        "from shop.cart.cart import Cart\nfrom shop.orders.order import Order\n"
        "from shop.report.summary import summary\n\n\ndef test_pay_and_summary(items):\n"
        "    cart = Cart()\n    cart.add(items[0])\n    order = Order(cart)\n    order.pay()\n"
        "    assert summary(order) == 'paid: 2.50'\n"
    ),
}

BUGS: dict[str, tuple[str, str, str]] = {
    "discount": (
        "shop/cart/pricing.py",
        "    return total - total * percent // 100",
        "    return total - percent",
    ),
    "slug": ("shop/util/text.py", "'-'.join(text.lower().split())", "'_'.join(text.split())"),
}


def shop_files(
    bugs: Collection[str] = ("discount",), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The shop repository (24 files in 7 packages) with the named bugs injected."""
    files = dict(_SHOP)
    for name in bugs:
        path, good, bad = BUGS[name]
        assert good in files[path], name
        files[path] = files[path].replace(good, bad)
    return {**files, **(extra or {})}


def fix_reply(bug: str) -> str:
    """The search/replace block that undoes one injected bug."""
    path, good, bad = BUGS[bug]
    return search_replace(path, bad, good)


def make_repo(root: Path, files: Mapping[str, str | bytes], branch: str = "main") -> Path:
    """A git repository at `root` with `files` in one commit on `branch`."""
    repo = git.Repo.init(root, initial_branch=branch)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test User")
        config.set_value("user", "email", "user@example.com")
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    repo.git.add("--all")
    repo.git.commit("-q", "-m", "the user's project")
    return root


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file of the working tree but `.git/` and greenloop's own `.greenloop/`."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in (".git", ".greenloop") or not path.is_file():
            continue
        out[rel.as_posix()] = path.read_bytes()
    return out


def _filler(package: int, module: int) -> str:
    funcs = "\n\n".join(
        f"def p{package}_m{module}_f{k}(value: int) -> int:\n"
        f'    """Filler function {k} of module {module} in package {package}."""\n'
        f"    return value * {k + 1} + {module}\n"
        for k in range(6)
    )
    return f'"""Module {module} of package {package}."""\n\n\n{funcs}'


def big_repo_files(count: int = 500) -> dict[str, str]:
    """`count` files in 25 packages; `ledger.balance` fails because a helper two files
    away (`ledger.rates.rate_for`) is wrong, and the test file names neither helper."""
    files: dict[str, str] = {"pyproject.toml": PYPROJECT.replace("shop", "big")}
    files["ledger/__init__.py"] = ""
    files["ledger/rates.py"] = (
        "RATES = {'eur': 100, 'usd': 90}\n\n\n"
        "def rate_for(currency: str) -> int:\n    return RATES.get(currency.upper(), 0)\n"
    )
    files["ledger/accounts.py"] = (
        "from ledger.rates import rate_for\n\n\n"
        "def balance(amounts: list[int], currency: str) -> int:\n"
        "    return sum(amounts) * rate_for(currency) // 100\n"
    )
    files["tests/test_ledger.py"] = (
        "from ledger.accounts import balance\n\n\ndef test_balance_in_usd():\n"
        "    assert balance([100, 200], 'usd') == 270\n"
    )
    package = module = 0
    while len(files) < count:
        if module == 0:
            files[f"pkg{package:02d}/__init__.py"] = ""
        files[f"pkg{package:02d}/mod{module:02d}.py"] = _filler(package, module)
        module += 1
        if module == 20:
            package, module = package + 1, 0
    return files


BIG_FIX = search_replace(
    "ledger/rates.py",
    "    return RATES.get(currency.upper(), 0)",
    "    return RATES.get(currency.lower(), 0)",
)
