"""Python: pytest, judged in `sandbox.judge_child`, its tests disguised by
`sandbox.disguise` (everything `sandbox.testrun` does), in the root's `Dockerfile`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sandbox.base import Suite, TestReport
from sandbox.disguise import is_test_module
from sandbox.image import PYTHON_IMAGE, ImageSpec
from sandbox.testrun import PytestHost, folder_suite, pytest_args, run_pytest

__all__ = ["PYTHON", "PythonToolchain"]


@dataclass(frozen=True)
class PythonToolchain:
    name: str = "python"
    image: ImageSpec = field(default=PYTHON_IMAGE)
    extensions: tuple[str, ...] = (".py",)
    manifests: tuple[str, ...] = ("pyproject.toml", "setup.cfg", "setup.py")

    def is_test_file(self, path: str) -> bool:
        return PurePosixPath(path).suffix == ".py" and is_test_module(path)

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
