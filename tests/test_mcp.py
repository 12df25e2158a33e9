"""`greenloop mcp` driven by the MCP SDK's own client over stdio: the real server as a
subprocess, the real Docker sandbox, real git, models scripted behind the fake
OpenAI server, or answered by the test client's sampling callback (`--model client`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import git
import pytest
from fake_openai import FakeOpenAI, Reply, Request
from fixture_repos import fix_reply, make_repo, shop_files
from fizzbuzz_case import BUGGY, FIX, GOOD, fizzbuzz_task, user_repo
from mcp import Client, types
from mcp.client.stdio import StdioServerParameters
from scripted_agent import Script, fenced
from task_script import TaskScript

from agent.run.record import read_result
from sandbox.docker import LABEL

EXE = str(Path(sys.executable).parent / "greenloop")
Use = Callable[[Client], Awaitable[None]]


def _params(*args: str, cwd: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    return StdioServerParameters(command=EXE, args=["mcp", *args], cwd=cwd,
                                 env={**env, "OPENAI_API_KEY": "k"})  # fmt: skip


def _with_server(use: Use, *args: str, cwd: Path, **client: Any) -> None:
    async def main() -> None:
        async with Client(_params(*args, cwd=cwd), **client) as session:
            await use(session)

    anyio.run(main)


def _structured(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


def _text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


# ---------------------------------------------------------------- no Docker


def test_the_tools_have_typed_inputs_and_structured_outputs(tmp_path: Path) -> None:
    seen: dict[str, types.Tool] = {}

    async def use(client: Client) -> None:
        seen.update({t.name: t for t in (await client.list_tools()).tools})
        wrong = await client.call_tool("sandbox_test", {"folder": 3})
        assert wrong.is_error and "validation error" in _text(wrong)
        assert "Traceback" not in _text(wrong)
        missing = await client.call_tool("fix", {})
        assert missing.is_error and "repo" in _text(missing)

    _with_server(use, cwd=tmp_path)
    assert set(seen) == {"sandbox_test", "new", "fix", "batch", "report", "show"}
    assert seen["new"].input_schema["required"] == ["out"]
    assert seen["fix"].input_schema["properties"]["allow_test_edits"]["type"] == "boolean"
    assert all(tool.output_schema for tool in seen.values())


def test_a_path_the_cli_refuses_gets_the_cli_message(tmp_path: Path) -> None:
    task = fizzbuzz_task(tmp_path / "task")

    async def use(client: Client) -> None:
        inside = await client.call_tool("new", {"spec": str(task), "out": str(task / "out")})
        assert inside.is_error and "is inside the task folder" in _text(inside)
        nothing = await client.call_tool("show", {"run_dir": str(tmp_path / "nope")})
        assert nothing.is_error and "holds no run record" in _text(nothing)

    _with_server(use, cwd=tmp_path)
    assert not (task / "out").exists()


# ---------------------------------------------------------------- Docker


pytestmark_docker = pytest.mark.docker


@pytestmark_docker
def test_sandbox_test_reports_red_and_green_folders(tmp_path: Path, sandbox_image: str) -> None:
    red = tmp_path / "red"
    (red / "tests").mkdir(parents=True)
    (red / "tests" / "test_a.py").write_text(
        "def test_ok():\n    assert True\n\n\ndef test_bad():\n    assert 1 == 2, 'nope'\n"
    )
    green = tmp_path / "green"
    (green / "tests").mkdir(parents=True)
    (green / "tests" / "test_a.py").write_text("def test_ok():\n    assert True\n")
    reports: dict[str, dict[str, Any]] = {}

    async def use(client: Client) -> None:
        for folder in (red, green):
            result = await client.call_tool("sandbox_test", {"folder": str(folder)})
            reports[folder.name] = _structured(result)

    _with_server(use, cwd=tmp_path)
    assert (reports["red"]["green"], reports["red"]["passed"], reports["red"]["failed"]) == (
        False, 1, 1,
    )  # fmt: skip
    (failure,) = reports["red"]["failures"]
    assert failure["id"] == "tests/test_a.py::test_bad" and "assert 1 == 2" in failure["traceback"]
    assert reports["green"]["green"] and reports["green"]["tampered"] == ""


@pytestmark_docker
def test_new_with_a_scripted_model_commits_green_and_reports_progress(
    tmp_path: Path, sandbox_image: str
) -> None:
    task = fizzbuzz_task(tmp_path / "task")
    out = user_repo(tmp_path / "out")
    progress: list[str] = []
    results: list[dict[str, Any]] = []

    async def noted(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    script = Script("{}", {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [FIX])
    with FakeOpenAI(script) as srv:

        async def use(client: Client) -> None:
            result = await client.call_tool(
                "new",
                {"spec": str(task), "out": str(out), "model": "fake", "base_url": srv.base_url},
                progress_callback=noted,
            )
            results.append(_structured(result))

        _with_server(use, cwd=tmp_path)
    (result,) = results
    assert (result["status"], result["iterations"]) == ("green", 2)
    assert result["branch"].startswith("greenloop/") and result["commit"]
    assert "+def fizzbuzz" in result["diff"] and "fizzbuzz.py" in result["diff"]
    assert git.Repo(out).commit(result["branch"]).hexsha == result["commit"]
    assert any("1 test run(s), last 3 passed, 1 failed" in p for p in progress), progress
    assert any("model call" in p for p in progress)


@pytestmark_docker
def test_fix_on_a_real_repository_leaves_the_users_branch(
    tmp_path: Path, sandbox_image: str
) -> None:
    shop = make_repo(tmp_path / "shop", shop_files(bugs={"discount"}))
    user = git.Repo(shop)
    before = (user.active_branch.name, user.head.commit.hexsha)
    results: list[dict[str, Any]] = []
    with FakeOpenAI(Script("{}", {}, [fix_reply("discount")])) as srv:

        async def use(client: Client) -> None:
            args = {"repo": str(shop), "model": "fake", "base_url": srv.base_url,
                    "test_cmd": "python -m pytest -q tests"}  # fmt: skip
            results.append(_structured(await client.call_tool("fix", args)))

        _with_server(use, cwd=tmp_path)
    (result,) = results
    assert result["status"] == "green" and result["result"]["fixed"]
    assert "-    return total - percent" in result["diff"]
    assert (user.active_branch.name, user.head.commit.hexsha) == before


def _containers(run_ids: set[str]) -> list[str]:
    from sandbox.image import docker_client

    left = docker_client().containers.list(all=True, filters={"label": LABEL})
    return [c.name for c in left if c.labels.get("greenloop.run") in run_ids]


@pytestmark_docker
def test_a_second_run_in_a_busy_folder_is_refused_and_a_cancelled_one_stops(
    tmp_path: Path, sandbox_image: str
) -> None:
    task = fizzbuzz_task(tmp_path / "task")
    out = user_repo(tmp_path / "out")
    before = git.Repo(out).head.commit.hexsha
    script = Script("{}", {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [FIX])
    held = {"feedback": False}

    def slow(request: Request) -> Reply:
        reply = script(request)
        if script.asked[-1] == "feedback":
            held["feedback"] = True
            return Reply(text=reply.text, latency=60)
        return reply

    with FakeOpenAI(slow) as srv:

        async def use(client: Client) -> None:
            args = {"spec": str(task), "out": str(out), "model": "fake", "base_url": srv.base_url}
            with anyio.move_on_after(120) as scope:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(client.call_tool, "new", args)
                    while not held["feedback"]:  # the run waits on its model
                        await anyio.sleep(0.05)
                    # a second run in the same folder meanwhile is refused, naming the first
                    second = await client.call_tool("new", args)
                    assert second.is_error and "is being written by greenloop new, run" in (
                        _text(second)
                    )
                    tasks.cancel_scope.cancel()  # then the first is cancelled
            assert not scope.cancelled_caught
            await anyio.sleep(0.5)
            # the server is still there for the next call
            assert {t.name for t in (await client.list_tools()).tools} >= {"new"}

        _with_server(use, cwd=tmp_path)
    (run_dir,) = (out / ".greenloop" / "runs").iterdir()
    deadline = time.monotonic() + 60
    while (read_result(run_dir) or {}).get("exit_reason") != "interrupted" or _containers(
        {run_dir.name}
    ):
        assert time.monotonic() < deadline, "the run was not stopped"
        time.sleep(0.2)
    result = read_result(run_dir)
    assert result is not None and result["status"] == "error"
    assert git.Repo(out).head.commit.hexsha == before
    assert [h.name for h in git.Repo(out).heads] == ["main"]
    assert (run_dir / "trajectory.jsonl").is_file()


@pytestmark_docker
@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_model_client_is_answered_by_the_clients_sampling(
    tmp_path: Path, sandbox_image: str, mode: str
) -> None:
    # "auto": a 2026-07-28 connection, each model call a round the client answers by
    # calling again (InputRequiredResult); "legacy": the handshake, a sampling request
    # sent mid-call
    task = fizzbuzz_task(tmp_path / "task")
    out = tmp_path / "out"
    asked: list[str] = []

    async def sample(
        context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        prompt = "\n".join(m.content.text for m in params.messages if m.role == "user")
        asked.append(prompt)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=fenced("fizzbuzz.py", GOOD)),
            model="the-editors-model",
        )

    results: list[dict[str, Any]] = []

    async def use(client: Client) -> None:
        result = await client.call_tool("new", {"spec": str(task), "out": str(out)})
        results.append(_structured(result))

    _with_server(use, "--model", "client", cwd=tmp_path, sampling_callback=sample,
                 input_required_max_rounds=50, mode=mode)  # fmt: skip
    (result,) = results
    assert result["status"] == "green" and result["commit"]
    assert len(asked) == result["result"]["model_calls"] >= 1
    assert "fizzbuzz" in asked[0]
    cassette = Path(result["run_dir"]) / "cassette.jsonl"
    recorded = [json.loads(line) for line in cassette.read_text().splitlines()]
    assert len(recorded) == len(asked)
    assert recorded[0]["completion"]["model"] == "client:the-editors-model"


def test_model_client_without_sampling_says_so(tmp_path: Path) -> None:
    task = fizzbuzz_task(tmp_path / "task")

    async def use(client: Client) -> None:
        result = await client.call_tool("new", {"spec": str(task), "out": str(tmp_path / "o")})
        assert result.is_error and "offers no sampling" in _text(result)

    _with_server(use, "--model", "client", cwd=tmp_path)
    assert not (tmp_path / "o").exists()


def test_the_help_says_how_to_wire_it_into_an_editor() -> None:
    shown = subprocess.run([EXE, "mcp", "--help"], capture_output=True, text=True, check=True)
    config = '{"mcpServers": {"greenloop": {"command": "greenloop", "args": ["mcp"]}}}'
    assert config in shown.stdout and "sampling" in shown.stdout
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert '"greenloop": {"command": "greenloop", "args": ["mcp"]}' in readme


@pytestmark_docker
def test_batch_report_and_show_through_the_tools(tmp_path: Path, sandbox_image: str) -> None:
    root = Path(__file__).resolve().parents[1]
    tasks = tmp_path / "tasks"
    for name in ("00-add", "01-fizzbuzz"):
        shutil.copytree(root / "tasks" / name, tasks / name)
    script = TaskScript.from_folders(tasks, root / "tests" / "fixtures" / "task_solutions")
    out = tmp_path / "batch"
    seen: dict[str, Any] = {}
    progress: list[str] = []

    async def noted(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    with FakeOpenAI(script) as srv:

        async def use(client: Client) -> None:
            args = {"tasks": str(tasks), "out": str(out), "model": "fake",
                    "base_url": srv.base_url}  # fmt: skip
            seen["batch"] = _structured(
                await client.call_tool("batch", args, progress_callback=noted)
            )
            seen["report"] = _structured(await client.call_tool("report", {"batch_dir": str(out)}))
            run = next(out.glob("tasks/00-add/try-1/.greenloop/runs/*"))
            seen["show"] = _structured(await client.call_tool("show", {"run_dir": str(run)}))

        _with_server(use, cwd=tmp_path)
    summary = seen["batch"]["summary"]
    assert (summary["total"], summary["passed"]) == (2, 2)
    assert Path(seen["batch"]["report_html"]).is_file()
    assert Path(seen["report"]["report_md"]).read_text().count("00-add") >= 1
    assert "result: green" in seen["show"]["text"]
    assert any("task(s) done" in p for p in progress), progress


def test_http_serves_the_same_tools_on_loopback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([EXE, "mcp", "--http", "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    names: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)

        async def main() -> None:
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                names.extend(t.name for t in (await client.list_tools()).tools)

        anyio.run(main)
    finally:
        server.terminate()
        server.wait(10)
    assert "sandbox_test" in names and "fix" in names
