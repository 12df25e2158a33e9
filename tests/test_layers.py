"""The layers contract: imports point down, never up, never sideways within a layer.

    cli > mcp > commands > doctor > batch > new | fix | show > run > edits | model | git
        > leaves > errors > sandbox

Read from the source with `ast` (every `import`, at the top or inside a function), so a
function-local import that climbs back up is caught as well. `leaves` are the small
modules everything may use (errors, choices, the task format, syntax, text cleaning).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS: tuple[tuple[str, ...], ...] = (
    ("agent.cli",),
    ("agent.mcp",),
    ("agent.commands",),
    ("agent.doctor",),
    ("agent.batch",),
    ("agent.new", "agent.fix", "agent.show"),
    ("agent.run",),
    ("agent.edits", "agent.model", "agent.git"),
    (
        "agent.choices",
        "agent.task",
        "agent.syntax",
        "agent.textclean",
        "agent.atomic",
    ),
    ("agent.languages",),  # what an extension says: the syntax gate and the task use it
    ("agent.errors",),
    ("sandbox",),
)


def _place(module: str) -> tuple[int, str] | None:
    """(layer, group) of a module of ours, or None for anything else."""
    for depth, groups in enumerate(LAYERS):
        for group in groups:
            if module == group or module.startswith(group + "."):
                return depth, group
    return None


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every absolute module `path` imports, with its line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
    return found


def wrong_way_imports(root: Path) -> list[str]:
    """`file:line imports X` for each import that climbs a layer or crosses to a sibling."""
    wrong: list[str] = []
    for path in sorted([*(root / "agent").rglob("*.py"), *(root / "sandbox").rglob("*.py")]):
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        here = _place(module)
        if here is None:
            continue
        for target, line in _imports(path):
            there = _place(target)
            if there is None or there[1] == here[1]:
                continue
            if there[0] < here[0] or there[0] == here[0]:
                wrong.append(f"{path.relative_to(root)}:{line} imports {target}")
    return sorted(set(wrong))


def test_every_import_points_down() -> None:
    assert wrong_way_imports(ROOT) == []


def test_every_module_of_ours_has_a_layer() -> None:
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in [*(ROOT / "agent").rglob("*.py"), *(ROOT / "sandbox").rglob("*.py")]
    ]
    assert [m for m in modules if m != "agent" and _place(m) is None] == []


@pytest.mark.parametrize(
    ("module", "imported"),
    [("agent/run/wrong.py", "agent.new.plan"), ("agent/new/wrong.py", "agent.fix.repair"),
     ("sandbox/wrong.py", "agent.errors"), ("agent/edits/wrong.py", "agent.run.loop")],
)  # fmt: skip
def test_a_wrong_way_import_is_caught(tmp_path: Path, module: str, imported: str) -> None:
    target = tmp_path / module
    target.parent.mkdir(parents=True)
    target.write_text(f"def f():\n    from {imported} import x\n")
    (tmp_path / "agent").mkdir(exist_ok=True)
    (tmp_path / "agent" / "ok.py").write_text("from sandbox.base import ExecResult\n")
    assert wrong_way_imports(tmp_path) == [f"{module}:2 imports {imported}",
                                           f"{module}:2 imports {imported}.x"]  # fmt: skip
