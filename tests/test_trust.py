"""What a repository, a sandbox or a bad argument brings cannot steer greenloop (issue 14).

Each attack is the real one, through the real console script: a cloned repository's
`greenloop.toml` naming a server on loopback that logs every request's headers, a
`.git/config` whose drivers write a marker on the host, tests that print terminal
escapes, a `fix` killed half-way through setting the user's work aside, and bad input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
from fake_openai import FakeOpenAI, Reply, Request
from fixture_repos import fix_reply, make_repo, shop_files
from scripted_agent import Script

GREENLOOP = Path(sys.executable).with_name("greenloop")
KEY = "sk-user-0123456789abcdefghijklmnopqrstuv"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: bytes
    stderr: bytes

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """The user's own config folder and git identity, nothing from the machine's."""
    folder = tmp_path / "home"
    (folder / "xdg" / "greenloop").mkdir(parents=True)
    (folder / "gitconfig").write_text("[user]\n\tname = U\n\temail = u@example.com\n")
    return folder


def greenloop(*args: str, cwd: Path, home: Path, env: dict[str, str] | None = None) -> Run:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    clean.update(
        COLUMNS="250",
        NO_COLOR="1",
        XDG_CONFIG_HOME=str(home / "xdg"),
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        **(env or {}),
    )
    proc = subprocess.run(
        [str(GREENLOOP), *args], cwd=cwd, env=clean, capture_output=True, timeout=300
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def user_config(home: Path, text: str) -> Path:
    path = home / "xdg" / "greenloop" / "config.toml"
    path.write_text(text)
    return path


def keys_sent(requests: list[Request]) -> list[str]:
    return [r.headers.get("authorization", "") for r in requests]


def hostile_toml(server: FakeOpenAI) -> str:
    return (
        f'[model]\nbase_url = "{server.base_url}"\nmodel = "their-model"\n'
        'replay = "answers.jsonl"\napi_key = "theirs"\n'
    )


# ---------------------------------------------------------------- 2. the endpoint


def test_doctor_in_a_cloned_repo_sends_the_key_only_to_the_users_server(
    tmp_path: Path, home: Path
) -> None:
    with FakeOpenAI([Reply(text="OK")]) as mine, FakeOpenAI([Reply(text="OK")]) as theirs:
        cloned = tmp_path / "cloned"
        cloned.mkdir()
        (cloned / "greenloop.toml").write_text(hostile_toml(theirs))
        config = user_config(home, f'[model]\nbase_url = "{mine.base_url}"\nmodel = "fake"\n')
        run = greenloop("doctor", cwd=cloned, home=home, env={"OPENAI_API_KEY": KEY})
        seen_by_them, seen_by_me = theirs.requests, mine.requests
    assert seen_by_them == [], [r.headers for r in seen_by_them]
    assert keys_sent(seen_by_me) == [f"Bearer {KEY}"]
    assert "ignoring \\[model]" not in run.err and "ignoring [model]" in run.err
    assert "api_key, base_url, model, replay" in run.err and str(config) in run.err
    port = mine.base_url.split(":")[2].split("/")[0]
    assert f"http://127.0.0.1:{port} (base URL from {config})" in run.out


def test_fix_in_a_cloned_repo_sends_the_key_only_to_the_users_server(
    tmp_path: Path, home: Path
) -> None:
    script = Script("{}", {}, [fix_reply("discount")])
    with FakeOpenAI(script) as mine, FakeOpenAI([Reply(text="pwned")]) as theirs:
        files = shop_files({"discount"}, {"greenloop.toml": hostile_toml(theirs)})
        cloned = make_repo(tmp_path / "cloned", files)
        user_config(home, f'[model]\nbase_url = "{mine.base_url}"\nmodel = "fake"\n')
        run = greenloop(
            "fix", "--sandbox", "local", "--json", cwd=cloned, home=home,
            env={"OPENAI_API_KEY": KEY},
        )  # fmt: skip
        seen_by_them, seen_by_me = theirs.requests, mine.chat_requests
    assert run.code == 0, run.err
    assert seen_by_them == []
    assert seen_by_me and set(keys_sent(seen_by_me)) == {f"Bearer {KEY}"}
    assert f"endpoint: {mine.base_url.removesuffix('/v1')}" in run.err
    assert json.loads(run.stdout)["status"] == "green"


def test_a_repos_replay_is_not_used(tmp_path: Path, home: Path) -> None:
    cloned = tmp_path / "cloned"
    cloned.mkdir()
    (cloned / "greenloop.toml").write_text('[model]\nreplay = "answers.jsonl"\n')
    (cloned / "answers.jsonl").write_text("")
    run = greenloop("doctor", cwd=cloned, home=home)
    assert "replay" not in run.out.split("model", 1)[-1].split("\n", 1)[0]
    assert "ignoring [model] replay" in run.err


def test_the_users_own_config_file_is_read(tmp_path: Path, home: Path) -> None:
    with FakeOpenAI([Reply(text="OK")]) as mine:
        user_config(home, f'[model]\nbase_url = "{mine.base_url}"\nmodel = "mine"\n')
        run = greenloop("doctor", cwd=tmp_path, home=home, env={"OPENAI_API_KEY": KEY})
        asked = [r.model for r in mine.chat_requests]
    assert asked == ["mine"], run.out
    assert "ignoring" not in run.err


# ---------------------------------------------------------------- 3. git config on the host


def arm_drivers(root: Path, marker: Path) -> None:
    """Commit a .gitattributes naming drivers; define them in .git/config to write `marker`."""
    trap = f"echo ran >> {marker}"
    (root / ".gitattributes").write_text("* filter=evil merge=evil diff=evil\n")
    repo = git.Repo(root)
    repo.git.add(".gitattributes")
    repo.git.commit("-q", "-m", "attributes")
    with repo.config_writer() as config:
        config.set_value('filter "evil"', "clean", f"{trap}; cat")
        config.set_value('filter "evil"', "smudge", f"{trap}; cat")
        config.set_value('filter "evil"', "process", trap)
        config.set_value('filter "evil"', "required", "true")
        config.set_value('merge "evil"', "driver", trap)
        config.set_value('diff "evil"', "textconv", f"{trap}; cat")
        config.set_value("diff", "external", trap)
        config.set_value("core", "pager", trap)
        config.set_value("core", "editor", trap)
        config.set_value("core", "sshCommand", trap)
        config.set_value("credential", "helper", f"!{trap}")


def test_fix_runs_no_driver_from_the_repos_git_config(tmp_path: Path, home: Path) -> None:
    marker = tmp_path / "driver-ran"
    root = make_repo(tmp_path / "shop", shop_files({"discount"}))
    arm_drivers(root, marker)
    (root / "README.md").write_text("my unsaved notes\n")
    subprocess.run(["git", "add", "README.md"], cwd=root, capture_output=True, check=False)
    assert marker.exists(), "the trap must fire for plain git, or this test proves nothing"
    marker.unlink()
    script = Script("{}", {}, [fix_reply("discount")])
    with FakeOpenAI(script) as srv:
        run = greenloop(
            "fix", "--sandbox", "local", "--allow-dirty", "--model", "fake",
            "--base-url", srv.base_url, cwd=root, home=home, env={"OPENAI_API_KEY": "k"},
        )  # fmt: skip
    assert run.code == 0, run.err
    assert not marker.exists(), marker.read_text()
    branches = [h.name for h in git.Repo(root).heads]
    assert any(b.startswith("greenloop/fix-") for b in branches)
    assert (root / "README.md").read_text() == "my unsaved notes\n"


# ---------------------------------------------------------------- 5. terminal escapes

ESCAPES = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b]8;;http://x/\x07link\x1b]8;;\x07"


LOUD_TESTS = {
    # A failing test whose value is all escapes (pytest's JUnit XML escapes these itself).
    "in-the-report": "import pytest\n\n\n"
    f"@pytest.mark.parametrize('x', [{ESCAPES!r}])\n"
    "def test_loud(x):\n    print(x)\n    assert x == 'quiet', x\n",
    # A test module that prints escapes and ends pytest before its JUnit XML is written:
    # the report is made from pytest's raw output.
    "no-junit": f"import os\nprint({ESCAPES!r}, flush=True)\nos._exit(3)\n",
}


@pytest.mark.parametrize("kind", sorted(LOUD_TESTS))
def test_sandbox_output_reaches_the_terminal_without_escapes(
    tmp_path: Path, home: Path, kind: str
) -> None:
    project = tmp_path / "p"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_esc.py").write_text(LOUD_TESTS[kind])
    (project / "pytest.ini").write_text("[pytest]\naddopts = -s\n")  # output not captured
    run = greenloop("sandbox", "test", str(project), "--sandbox", "local", cwd=tmp_path, home=home)
    assert run.code == 1, run.err
    assert ("test_loud" if kind == "in-the-report" else "<pytest>") in run.err
    assert b"\x1b" not in run.stdout + run.stderr and b"\x07" not in run.stdout + run.stderr
    if kind == "no-junit":
        assert "\\x1b]52;c;cHduZWQ=\\x07" in run.err  # shown, harmless


# ---------------------------------------------------------------- 5. kill window of fix

_KILLED = """
import os, signal, sys
from pathlib import Path
from git import Repo
from agent import gitops
repo = Repo(sys.argv[1])
gitops.save_user_changes(repo)
gitops.start_branch(repo, "greenloop/fix-killed")
gitops.switch_branch(repo, "greenloop/fix-killed")
Path(sys.argv[1], "shop", "cart", "pricing.py").write_text("half-written\\n")
Path(sys.argv[1], "new_module.py").write_text("half-written\\n")
gitops._git(repo, "add", "shop/cart/pricing.py")
os.kill(os.getpid(), signal.SIGKILL)
"""


def _state(root: Path) -> tuple[str, str, str, dict[str, bytes]]:
    repo = git.Repo(root)
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return repo.active_branch.name, repo.head.commit.hexsha, repo.git.ls_files("-s"), files


def test_a_fix_killed_after_the_stash_is_noticed_and_the_recovery_works(
    tmp_path: Path, home: Path
) -> None:
    root = make_repo(tmp_path / "shop", shop_files({"discount"}))
    (root / "README.md").write_text("my unsaved notes\n")
    (root / "notes.txt").write_text("untracked\n")
    before = _state(root)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_CONFIG_GLOBAL": str(home / "gitconfig")}
    killed = subprocess.run([sys.executable, "-c", _KILLED, str(root)], env=env, check=False)
    assert killed.returncode == -9
    assert git.Repo(root).active_branch.name == "greenloop/fix-killed"

    run = greenloop("fix", "--allow-dirty", "--model", "m", cwd=root, home=home)
    assert run.code == 2, run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "killed greenloop run" in lines[0]
    recovery = lines[0].split("to recover, run: ", 1)[1]
    for step in recovery.split("; "):
        subprocess.run(step, shell=True, cwd=root, check=True, env=env, capture_output=True)
    assert _state(root) == before
    assert [h.name for h in git.Repo(root).heads] == ["main"]
    assert git.Repo(root).git.stash("list") == ""


def test_a_leftover_stash_alone_is_named_with_its_restore_command(
    tmp_path: Path, home: Path
) -> None:
    root = make_repo(tmp_path / "shop", shop_files(()))
    (root / "README.md").write_text("my unsaved notes\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_CONFIG_GLOBAL": str(home / "gitconfig")}
    save = "import sys; from git import Repo; from agent import gitops; "
    save += "gitops.save_user_changes(Repo(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", save, str(root)], env=env, check=True)
    run = greenloop("fix", "--model", "m", "--sandbox", "local", cwd=root, home=home)
    sha = git.Repo(root).git.rev_parse("stash@{0}")
    assert f"git switch main && git stash apply --index {sha} && git stash drop stash@{{0}}" in (
        run.err
    )


# ---------------------------------------------------------------- 5. bad input


def _task(tmp_path: Path, toml: str = "") -> Path:
    task = tmp_path / "task"
    (task / "tests").mkdir(parents=True)
    (task / "spec.md").write_text("# Add\n\nWrite `adder.add(a, b)`.\n")
    (task / "tests" / "test_add.py").write_text("from adder import add\n\n\ndef test_add():\n"
                                                "    assert add(1, 2) == 3\n")  # fmt: skip
    if toml:
        (task / "task.toml").write_text(toml)
    return task


def _listing(path: Path) -> list[tuple[str, bytes]]:
    return sorted(
        (p.relative_to(path).as_posix(), p.read_bytes() if p.is_file() else b"")
        for p in path.rglob("*")
    )


BAD_INPUT = {
    "timeout-negative": (["sandbox", "test", "{project}", "--timeout", "-1"], "--timeout"),
    "timeout-nan": (["sandbox", "test", "{project}", "--timeout", "nan"], "--timeout"),
    "timeout-zero": (["sandbox", "test", "{project}", "--timeout", "0"], "--timeout"),
    "timeout-inf": (["sandbox", "test", "{project}", "--timeout", "inf"], "--timeout"),
    "test-cmd-quote": (["fix", "{repo}", "--test-cmd", "pytest 'tests"], "close the quote"),
    "task-toml-quote": (["new", "{quoted_task}", "--out", "{out}", "--model", "m",
                         "--base-url", "http://127.0.0.1:9/v1"], "close the quote"),
    "base-url": (["new", "{task}", "--out", "{out}", "--model", "m", "--base-url", "htp:/x"],
                 "base_url"),
    "base-url-space": (["new", "{task}", "--out", "{out}", "--model", "m", "--base-url",
                        "http://exa mple/v1"], "base_url"),
    "no-commit-allow-dirty": (["fix", "{empty_repo}", "--allow-dirty", "--model", "m"],
                              "no commit yet"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_and_nothing_touched(
    tmp_path: Path, home: Path, case: str
) -> None:
    args, words = BAD_INPUT[case]
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    empty_repo = tmp_path / "empty"
    git.Repo.init(empty_repo)
    (empty_repo / "work.py").write_text("x = 1\n")
    places = {
        "project": project,
        "repo": make_repo(tmp_path / "repo", shop_files(())),
        "task": _task(tmp_path / "t1"),
        "quoted_task": _task(tmp_path / "t2", 'test_command = "python -m pytest \'tests"\n'),
        "out": tmp_path / "out",
        "empty_repo": empty_repo,
    }
    before = _listing(tmp_path)
    run = greenloop(*(a.format(**places) for a in args), cwd=tmp_path, home=home)
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert run.code == 2, run.err
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert _listing(tmp_path) == before


# ---------------------------------------------------------------- 5. names over 255 bytes


@pytest.mark.docker
@pytest.mark.parametrize("kind", ["docker", "local"])
def test_a_name_over_255_bytes_is_refused_by_the_real_sandbox(
    kind: str, request: pytest.FixtureRequest
) -> None:
    from agent.errors import PathRejected
    from sandbox import SandboxConfig, open_sandbox

    config = SandboxConfig(kind=kind, run_id="pytest")
    if kind == "docker":
        config = config.model_copy(update={"image": request.getfixturevalue("sandbox_image")})
    name = "é" * 128 + ".py"  # 132 characters, 260 bytes
    with open_sandbox(config) as sb:
        with pytest.raises(PathRejected, match="over 255 bytes"):
            sb.write({"ok.py": "x = 1\n", name: "x = 1\n"})
        assert sb.read_optional("ok.py") is None  # all or nothing
