"""`greenloop fix` end to end: the real openai client against a fake server, the real
Docker sandbox, real git. Each scenario is a fixture repository made in tmp
(tests/fixture_repos.py) with bugs injected; the scripted model answers every
request with the next queued reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI
from fixture_repos import (
    BIG_FIX,
    big_repo_files,
    fix_reply,
    make_repo,
    shop_files,
    tree_bytes,
)
from scripted_agent import Script, search_replace

from agent.errors import UsageError
from agent.fix.repair import prepare_fix, run_fix
from agent.fix.repomap import estimate_tokens
from agent.model import ModelConfig, OpenAIChat
from agent.run.record import FixResult, read_trajectory
from agent.run.settings import RunSettings
from agent.task import TaskConfig
from sandbox import SandboxConfig

pytestmark = pytest.mark.docker

BUDGETS = TaskConfig(max_iterations=4, stuck_after=2, max_tokens=200_000, wall_seconds=300,
                     timeout=60)  # fmt: skip
TARGET = "tests/test_cart.py::test_total_with_discount"


def _fix(root: Path, replies: list[str], image: str, **kw: Any) -> tuple[FixResult, Script]:
    script = Script("{}", {}, replies)
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(
            run_id=f"t{time.monotonic_ns()}",
            model_name="fake",
            sandbox=SandboxConfig(image=image),
            config=BUDGETS,
            **kw,
        )
        return run_fix(prepare_fix(root, options), model), script


def _state(root: Path) -> tuple[str | None, str, str, dict[str, bytes]]:
    """The user's branch, HEAD, index and working tree."""
    repo = git.Repo(root)
    branch = None if repo.head.is_detached else repo.active_branch.name
    return branch, repo.head.commit.hexsha, repo.git.ls_files("-s"), tree_bytes(root)


def _fix_branches(root: Path) -> list[str]:
    return [h.name for h in git.Repo(root).heads if h.name.startswith("greenloop/")]


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "shop", shop_files(bugs={"discount"}))


def test_the_fix_lands_on_its_branch_and_the_user_tree_is_untouched(
    shop: Path, sandbox_image: str
) -> None:
    before = _state(shop)
    result, script = _fix(shop, [fix_reply("discount")], sandbox_image)
    assert (result.status, result.exit_reason) == ("green", "green")
    assert result.fixed == [TARGET] and result.flaky == []
    assert result.branch == f"greenloop/fix-{result.run_id}" and result.commit
    assert _state(shop) == before
    repo = git.Repo(shop)
    fixed = repo.commit(result.branch)
    assert fixed.parents[0].hexsha == before[1]
    assert [d.a_path for d in fixed.parents[0].diff(fixed)] == ["shop/cart/pricing.py"]
    for trailer in (f"Greenloop-Run: {result.run_id}", "Model: fake", f"Fixed: {TARGET}",
                    "Tests: 8 passed"):  # fmt: skip
        assert trailer in fixed.message
    assert len(script.prompts) == 1
    assert "test_total_with_discount" in script.prompts[0]


def test_a_dirty_tree_is_refused(shop: Path, sandbox_image: str) -> None:
    (shop / "README.md").write_text("my unsaved notes\n")
    before = _state(shop)
    with pytest.raises(UsageError, match="--allow-dirty"):
        _fix(shop, [fix_reply("discount")], sandbox_image)
    assert _state(shop) == before and _fix_branches(shop) == []


def test_allow_dirty_keeps_the_uncommitted_work_exactly(shop: Path, sandbox_image: str) -> None:
    (shop / "README.md").write_text("my unsaved notes\n")
    (shop / "notes.txt").write_text("untracked\n")
    (shop / "shop/money.py").write_text((shop / "shop/money.py").read_text() + "# staged\n")
    git.Repo(shop).git.add("shop/money.py")
    before = _state(shop)
    result, _ = _fix(shop, [fix_reply("discount")], sandbox_image, allow_dirty=True)
    assert result.status == "green" and result.commit
    assert _state(shop) == before
    assert git.Repo(shop).git.diff("--cached", "--name-only") == "shop/money.py"
    committed = git.Repo(shop).commit(result.commit).tree / "README.md"
    assert b"unsaved" not in committed.data_stream.read()


def test_a_reply_that_edits_a_test_is_refused(shop: Path, sandbox_image: str) -> None:
    cheat = search_replace(
        "tests/test_cart.py", "assert cart.total(10) == 495", "assert cart.total(10) == 540"
    )
    result, script = _fix(shop, [cheat, fix_reply("discount")], sandbox_image)
    assert result.status == "green"
    assert len(script.prompts) == 2
    assert "NOT applied" in script.prompts[1] and "tests/test_cart.py" in script.prompts[1]
    fixed = git.Repo(shop).commit(result.branch)
    assert [d.a_path for d in fixed.parents[0].diff(fixed)] == ["shop/cart/pricing.py"]
    events = read_trajectory(Path(result.run_dir) / "trajectory.jsonl", strict=True)
    assert any(e["event"] == "apply" and e["failed"] for e in events)


def test_a_fix_that_breaks_a_passing_test_is_not_committed(shop: Path, sandbox_image: str) -> None:
    breaks = (
        fix_reply("discount")
        + "\n"
        + search_replace("shop/money.py", "return round(amount * 100)", "return int(amount)")
    )
    result, _ = _fix(shop, [breaks], sandbox_image)
    assert result.status == "red" and result.exit_reason in ("stuck", "iterations")
    assert result.fixed == []  # the best candidate is still the start: same score
    assert result.commit is None and result.branch is None
    assert _fix_branches(shop) == []
    events = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    tests = [e for e in events if e["event"] == "test"]
    assert tests and tests[0]["failing"] == ["tests/test_money.py::test_cents"]


FLAKY = """from pathlib import Path


def test_sometimes():
    marker = Path(__file__).with_name(".ran-once")
    if not marker.exists():
        marker.write_text("1")
        raise AssertionError("fails the first time only")
"""


def test_a_flaky_test_is_reported_not_targeted(tmp_path: Path, sandbox_image: str) -> None:
    root = make_repo(tmp_path / "shop", shop_files({"discount"}, {"tests/test_flaky.py": FLAKY}))
    result, script = _fix(root, [fix_reply("discount")], sandbox_image)
    assert result.status == "green"
    assert result.flaky == ["tests/test_flaky.py::test_sometimes"]
    assert result.fixed == [TARGET]
    assert "test_sometimes" not in script.prompts[0]
    assert (
        "Flaky: tests/test_flaky.py::test_sometimes" in git.Repo(root).commit(result.commit).message
    )


def test_a_missing_package_is_reported_not_fixed(tmp_path: Path, sandbox_image: str) -> None:
    extra = {"tests/test_yaml.py": "import frobnicate_yaml\n\n\ndef test_load():\n    pass\n"}
    root = make_repo(tmp_path / "shop", shop_files((), extra))
    result, script = _fix(root, [fix_reply("discount")], sandbox_image)
    assert (result.status, result.exit_reason) == ("error", "missing-dependency")
    assert result.missing == ["frobnicate_yaml"]
    assert "--setup-cmd" in result.error
    assert script.prompts == [] and _fix_branches(root) == []


def test_the_prompt_for_a_500_file_repo_fits_and_holds_what_the_test_needs(
    tmp_path: Path, sandbox_image: str
) -> None:
    root = make_repo(tmp_path / "big", big_repo_files(500))
    assert len(git.Repo(root).git.ls_files().split()) == 500
    result, script = _fix(root, [BIG_FIX], sandbox_image, context_tokens=3000)
    assert result.status == "green" and result.fixed == [
        "tests/test_ledger.py::test_balance_in_usd"
    ]
    prompt = script.prompts[0]
    system = "You are an expert Python programmer"
    assert estimate_tokens(prompt) + estimate_tokens(system) * 2 <= 3000
    assert "def rate_for(currency: str) -> int:" in prompt
    assert "def balance(amounts: list[int], currency: str) -> int:" in prompt
    assert "pkg00/mod00.py" not in prompt.split("Map of the rest")[0]


@pytest.fixture(autouse=True)
def _no_leftover_containers(docker_engine: Any) -> Iterator[None]:
    yield
    from sandbox.prune import prune

    prune(docker_engine)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "greenloop"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    return {**env, "OPENAI_API_KEY": "k"}


def test_cli_on_a_green_repo_says_nothing_to_fix(tmp_path: Path, sandbox_image: str) -> None:
    root = make_repo(tmp_path / "shop", shop_files(()))
    script = Script("{}", {}, [fix_reply("discount")])
    with FakeOpenAI(script) as srv:
        proc = _cli("fix", str(root), "--json", "--model", "fake", "--base-url", srv.base_url,
                    env=_env())  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["status"], result["exit_reason"]) == ("green", "nothing-to-fix")
    assert result["fixed"] == [] and result["flaky"] == [] and result["model_calls"] == 0
    assert "pyproject.toml" in proc.stderr and "nothing to fix" in proc.stderr
    assert script.prompts == [] and _fix_branches(root) == []


def test_cli_fix_prints_how_to_review_and_merge(shop: Path, sandbox_image: str) -> None:
    script = Script("{}", {}, [fix_reply("discount")])
    with FakeOpenAI(script) as srv:
        proc = _cli("fix", str(shop), "--model", "fake", "--base-url", srv.base_url, env=_env())
    assert proc.returncode == 0, proc.stderr
    branch = next(iter(_fix_branches(shop)))
    assert f"git diff main...{branch}" in proc.stderr and f"git merge {branch}" in proc.stderr


SETUP = "d=$(python3 -m site --user-site) && mkdir -p $d && echo 'VALUE = 42' > $d/extlib.py"


def test_setup_cmd_installs_what_the_tests_import(tmp_path: Path, sandbox_image: str) -> None:
    extra = {
        "tests/test_ext.py": "import extlib\n\n\ndef test_value():\n    assert extlib.VALUE == 42\n"
    }
    root = make_repo(tmp_path / "shop", shop_files({"discount"}, extra))
    result, _ = _fix(root, [fix_reply("discount")], sandbox_image, setup_command=SETUP)
    assert result.status == "green" and result.missing == []
    assert result.tests.passed == 9
