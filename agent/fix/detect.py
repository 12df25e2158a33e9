"""How a repository's tests run, for `greenloop fix`: pytest's, or node's runner's.

    found = detect_tests(root, given="node --test test/")   # DetectedTests(command, why, language)

`--test-cmd` decides when given (pytest's, or node's runner for a JavaScript
repository); else pytest's config (pytest.ini, `[tool.pytest.ini_options]`, ...)
makes it Python; else a `package.json` with no Python tests beside it makes it
JavaScript, its command read from `scripts.test` (`agent.fix.js_project`); else a
`tests/` folder or `test_*.py` files make it pytest's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.errors import UsageError
from agent.fix.js_project import is_js_project, js_test_command
from agent.fix.repomap import is_test_path
from sandbox.testrun import pytest_args

__all__ = ["DetectedTests", "detect_test_command", "detect_tests"]


_CONFIGS = (
    ("pyproject.toml", "[tool.pytest.ini_options]"),
    ("pytest.ini", ""),
    ("setup.cfg", "[tool:pytest]"),
    ("tox.ini", "[pytest]"),
)


@dataclass(frozen=True)
class DetectedTests:
    """How a repository's tests run, said once: the command, why, and the language."""

    command: str
    why: str
    """How the test command was found (said to the user)."""
    language: str = "python"
    """The toolchain that runs them (javascript takes TypeScript too)."""


def detect_tests(root: Path, given: str | None = None) -> DetectedTests:
    """`given` (pytest's, or node's runner for a JavaScript repository), else what the
    repository shows: pytest's config or folders, or package.json's node:test script
    (`agent.fix.js_project`)."""
    first = given.split()[0] if given and given.split() else ""
    pythonic = first in ("python", "python3", "pytest")
    native = _native(root, first, pythonic)
    if native is not None:
        return native_tests(root, native, given)
    if first in _JS_TOOLS or (is_js_project(root) and not _pytest_config(root) and not pythonic):
        found = js_test_command(root, given)
        return DetectedTests(found.command, found.why, "javascript")
    command, why = detect_test_command(root, given)
    return DetectedTests(command, why)


_JS_TOOLS = ("node", "nodejs", "npm", "yarn", "pnpm")
_OWN_DETECTION = ("python", "javascript")
"""Toolchains whose repositories are told above; any other by its command or manifest."""


def _native(root: Path, first: str, pythonic: bool) -> str | None:
    """Another toolchain's (Go's, Rust's): when the command is its tool's (`go`, `cargo`),
    or no command is given and the repository's root holds its manifest (and no Python
    or JavaScript tests)."""
    from sandbox.toolchains import toolchains

    others = [c for c in toolchains() if c.name not in _OWN_DETECTION]
    for chain in others:
        if first and first == chain.default_command.split()[0]:
            return chain.name
    if first or pythonic or _pytest_config(root) or is_js_project(root):
        return None
    found = [c.name for c in others if any((root / m).is_file() for m in c.manifests)]
    return found[0] if len(found) == 1 else None


def native_tests(root: Path, chain: str, given: str | None) -> DetectedTests:
    """A Go or Rust repository's tests: `given`, checked by its toolchain, else the
    toolchain's own command over the whole repository."""
    from sandbox.toolchains import toolchain

    runner = toolchain(chain)
    if given:
        runner.test_args(given)  # UsageError naming the form it takes
        return DetectedTests(given, "from --test-cmd", chain)
    manifest = next((m for m in runner.manifests if (root / m).is_file()), "its manifest")
    why = f"{runner.default_command}: {manifest} at the repository's root"
    return DetectedTests(runner.default_command, why, chain)


def _pytest_config(root: Path) -> str:
    """Which file configures pytest, and where (`pytest.ini`), or ""."""
    for name, marker in _CONFIGS:
        path = root / name
        if path.is_file() and (not marker or marker in path.read_text("utf-8", "replace")):
            return name + (f" {marker}" if marker else "")
    return ""


def detect_test_command(root: Path, given: str | None = None) -> tuple[str, str]:
    """pytest's command and why: `given`, else pytest when the repo shows it uses pytest."""
    if given:
        pytest_args(given)
        return given, "from --test-cmd"
    command = "python -m pytest -q"
    configured = _pytest_config(root)
    if configured:
        return command, f"pytest, configured in {configured}"
    for folder in ("tests", "test"):
        if (root / folder).is_dir():
            return command, f"pytest, from the {folder}/ folder"
    if any(is_test_path(p.name) for p in root.glob("*.py")):
        return command, "pytest, from test_*.py files"
    raise UsageError(
        f"found no tests in {root} (no pytest config, no tests/ folder): "
        "pass --test-cmd 'python -m pytest path/to/tests'"
    )
