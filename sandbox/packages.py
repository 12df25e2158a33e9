"""Third-party packages by import name: what the sandbox image has, and what to install.

Used to tell a spec's or a repository's third-party imports from its own modules, and
to name the `pip install` that brings them (`greenloop new` plans, `greenloop fix`'s
advice when the tests import what the sandbox lacks).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["THIRD_PARTY"]

THIRD_PARTY: Mapping[str, str | None] = {
    # import name -> distribution to install (None: the sandbox already has it)
    "pytest": None, "_pytest": None, "pytest_mock": "pytest-mock", "mock": "mock",
    "hypothesis": "hypothesis", "freezegun": "freezegun", "typing_extensions": None,
    "numpy": "numpy", "pandas": "pandas", "scipy": "scipy", "sklearn": "scikit-learn",
    "requests": "requests", "httpx": "httpx", "yaml": "pyyaml", "toml": "toml",
    "attr": "attrs", "attrs": "attrs", "pydantic": "pydantic", "click": "click",
    "typer": "typer", "rich": "rich", "bs4": "beautifulsoup4", "PIL": "pillow",
    "dateutil": "python-dateutil", "flask": "flask", "fastapi": "fastapi",
}  # fmt: skip
