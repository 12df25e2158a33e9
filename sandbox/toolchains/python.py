"""Python: pytest, judged in `sandbox.judge_child`, its tests disguised by
`sandbox.disguise` (everything `sandbox.testrun` does), in the root's `Dockerfile`."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sandbox import pyast
from sandbox.base import Suite, TestReport
from sandbox.disguise import is_test_module
from sandbox.image import PYTHON_IMAGE, ImageSpec
from sandbox.testrun import PytestHost, folder_suite, pytest_args, run_pytest

__all__ = ["PYTHON", "PythonToolchain", "test_names"]


@dataclass(frozen=True)
class PythonToolchain:
    name: str = "python"
    image: ImageSpec = field(default=PYTHON_IMAGE)
    extensions: tuple[str, ...] = (".py",)
    manifests: tuple[str, ...] = ("pyproject.toml", "setup.cfg", "setup.py")
    default_command: str = "python -m pytest -q"
    test_hint: str = "test_*.py"
    together: bool = True

    def is_test_file(self, path: str) -> bool:
        return PurePosixPath(path).suffix == ".py" and is_test_module(path)

    def runs_test(self, path: str, text: str) -> bool:
        return self.is_test_file(path)

    def protects(self, path: str, text: str) -> bool:
        return self.is_test_file(path)

    def expected(self, path: str, text: str) -> frozenset[str]:
        """pytest's default discovery (node ids without parameters)."""
        try:
            tree = pyast.parse(text)
        except (SyntaxError, ValueError):
            return frozenset({path})
        return frozenset(f"{path}::{name}" for name in test_names(tree))

    def test_args(self, command: str) -> list[str]:
        return pytest_args(command)

    def folder_suite(self, files: Mapping[str, bytes]) -> Suite:
        return folder_suite(files)

    def run_tests(
        self,
        host: PytestHost,
        args: Sequence[str],
        timeout: float,
        *,
        root: str,
        suite: Suite,
    ) -> TestReport:
        return run_pytest(host, args, timeout, root=root, suite=suite)


PYTHON = PythonToolchain()


def test_names(tree: ast.Module) -> list[str]:
    """pytest's default discovery: `test*` functions, and `test*` methods of `Test*` classes."""
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.extend(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and item.name.startswith("test")
            )
    return names
