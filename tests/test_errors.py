"""The error hierarchy: advice as a field, kept across pickling, sandbox errors below agent."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

from agent import errors
from sandbox import errors as sandbox_errors

ROOT = Path(__file__).resolve().parents[1]


def test_fix_is_a_field_and_str_gives_both() -> None:
    exc = errors.ConfigError("no model configured", fix="set OPENAI_API_KEY")
    assert exc.message == "no model configured"
    assert exc.fix == "set OPENAI_API_KEY"
    assert str(exc) == "no model configured. Fix: set OPENAI_API_KEY"
    assert exc.exit_code == 2


def test_an_error_without_fix_is_just_its_message() -> None:
    exc = errors.GitError("git failed: exit 128")
    assert (exc.fix, str(exc)) == ("", "git failed: exit 128")


@pytest.mark.parametrize("cls", [errors.ImageMissing, errors.ReplayMiss, errors.PathRejected])
def test_message_and_fix_survive_pickling(cls: type[errors.GreenloopError]) -> None:
    back = pickle.loads(pickle.dumps(cls("broken", fix="mend it")))
    assert type(back) is cls
    assert (back.message, back.fix) == ("broken", "mend it")


def test_agent_reexports_the_sandbox_errors() -> None:
    for name in sandbox_errors.__all__:
        assert getattr(errors, name) is getattr(sandbox_errors, name)
        assert name in errors.__all__


def test_sandbox_never_imports_agent() -> None:
    offenders = []
    for path in sorted((ROOT / "sandbox").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "agent"]
    assert offenders == []
