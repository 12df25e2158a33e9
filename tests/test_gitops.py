"""agent.gitops against real repositories in tmp dirs: real attacks, real checks, no mocks.

Each attack first proves itself with a plain `git` call (the hook or fsmonitor
does run), so a test cannot pass merely because the trap was never armed.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from git import Repo

from agent import gitops
from agent.errors import GitError, PathRejected, UsageError

SAFE = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null"]


def git(root: Path, *args: str, check: bool = True, safe: bool = True) -> str:
    """Plain git for setting up and inspecting; `safe=False` lets the repo's traps fire."""
    cmd = ["git", *(SAFE if safe else []), *args]
    return subprocess.run(cmd, cwd=root, check=check, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A global git config of our own, with an identity, and no system config."""
    cfg = tmp_path / "gitconfig"
    cfg.write_text("[user]\n\tname = Test User\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    return cfg


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A repository on `main` with text, binary, and ignored-file rules committed."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "a.txt").write_text("alpha\nbeta\n")
    (path / "c.txt").write_text("gamma\n")
    (path / "d.txt").write_text("delta\n")
    (path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (path / "pkg").mkdir()
    (path / "pkg" / "mod.py").write_text("X = 1\n")
    (path / ".gitignore").write_text("*.log\nsecret.txt\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path


def snapshot(path: Path) -> dict[str, object]:
    """Everything a user could notice: status, both diffs, the index, every file's bytes.

    Status leaves out `.greenloop/`, the run record, which a run is meant to add.
    """
    files: dict[str, tuple[int, bytes]] = {}
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path).as_posix()
        if rel.startswith(".git/") or rel == ".git" or f.is_dir():
            continue
        files[rel] = (f.stat().st_mode, f.read_bytes())
    return {
        "status": git(
            path,
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--",
            ".",
            ":(exclude).greenloop",
        ),
        "diff": git(path, "diff", "--binary"),
        "cached": git(path, "diff", "--cached", "--binary"),
        "index": git(path, "ls-files", "-s"),
        "head": git(path, "rev-parse", "HEAD"),
        "branch": git(path, "symbolic-ref", "-q", "HEAD", check=False),
        "files": files,
    }


def make_dirty(path: Path) -> None:
    """Staged and unstaged edits, binary edits, deletions, untracked and ignored files."""
    (path / "a.txt").write_text("alpha STAGED\nbeta\n")
    git(path, "add", "a.txt")
    (path / "a.txt").write_text("alpha STAGED\nbeta UNSTAGED\n")
    (path / "blob.bin").write_bytes(b"\x00\xff" * 300)
    git(path, "add", "blob.bin")
    (path / "blob.bin").write_bytes(b"\x00\xfe\x01" * 200)
    (path / "d.txt").unlink()
    git(path, "rm", "-q", "c.txt")
    (path / "new.txt").write_text("untracked\n")
    (path / "pkg" / "deep").mkdir()
    (path / "pkg" / "deep" / "new.bin").write_bytes(os.urandom(512))
    (path / "run.sh").write_text("#!/bin/sh\n")
    (path / "run.sh").chmod(0o755)
    (path / "debug.log").write_text("ignored\n")


def write_hook(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {path.name} >> {marker}\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


HOOKS = ["pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout"]


# ---------------------------------------------------------------- hooks and fsmonitor


@pytest.mark.parametrize("location", ["git-dir", "configured-hooksPath"])
def test_repo_hooks_are_not_run(root: Path, tmp_path: Path, location: str) -> None:
    marker = tmp_path / "hooks-ran"
    hook_dir = root / ".git" / "hooks"
    if location == "configured-hooksPath":
        hook_dir = tmp_path / "evil-hooks"
        git(root, "config", "core.hooksPath", str(hook_dir))
    for name in HOOKS:
        write_hook(hook_dir / name, marker)
    git(root, "commit", "-q", "--allow-empty", "-m", "armed", safe=False)
    assert "pre-commit" in marker.read_text() and "post-commit" in marker.read_text()
    marker.unlink()

    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/hooks"):
        (root / "pkg" / "mod.py").write_text("X = 2\n")
        sha = gitops.commit_files(repo, ["pkg/mod.py"], "fix X", {"Model": "m"})
    assert not marker.exists()
    assert git(root, "rev-parse", "greenloop/hooks").strip() == sha


def _op_status(repo: Repo, root: Path) -> None:
    gitops.is_dirty(repo)
    gitops.ensure_clean(repo)


def _op_commit(repo: Repo, root: Path) -> None:
    (root / "a.txt").write_text("changed\n")
    gitops.commit_files(repo, ["a.txt"], "change a", {})


def _op_save_restore(repo: Repo, root: Path) -> None:
    (root / "a.txt").write_text("changed\n")
    (root / "u.txt").write_text("u\n")
    gitops.restore_user_changes(repo, gitops.save_user_changes(repo))


def _op_branch(repo: Repo, root: Path) -> None:
    with gitops.work_on_branch(repo, "greenloop/fsm"):
        (root / "a.txt").write_text("on branch\n")
        gitops.commit_files(repo, ["a.txt"], "on branch", {})
    gitops.diff_stat(repo, "main", "greenloop/fsm")
    gitops.changed_files(repo, "main", "greenloop/fsm")


@pytest.mark.parametrize("operation", [_op_status, _op_commit, _op_save_restore, _op_branch])
def test_fsmonitor_is_not_run(
    root: Path, tmp_path: Path, operation: Callable[[Repo, Path], None]
) -> None:
    marker = tmp_path / "fsmonitor-ran"
    script = tmp_path / "fsmonitor.sh"
    write_hook(script, marker)
    git(root, "config", "core.fsmonitor", str(script))
    git(root, "status", safe=False)
    assert marker.exists(), "the trap must fire for plain git, or this test proves nothing"
    marker.unlink()

    operation(Repo(root), root)
    assert not marker.exists()


# ---------------------------------------------------------------- what may be committed


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (".env", "OPENAI_API_KEY=1\n"),
        ("config/.env.production", "X=1\n"),
        ("server.pem", "cert\n"),
        ("id_rsa", "key\n"),
        ("id_ed25519.pub", "ssh-ed25519 AAAA\n"),
        (".envrc", "export OPENAI_API_KEY=1\n"),
        (".npmrc", "//npm.example.com/:_authToken=x\n"),
        ("pkg/.git-credentials", "https://u:p@example.com\n"),
        ("terraform.tfstate", "{}\n"),
        ("config/secrets.yml", "key: 1\n"),
        ("debug.log", "ignored by *.log\n"),
        ("secret.txt", "ignored by name\n"),
        ("../evil.py", None),
        ("pkg", None),
    ],
)
def test_refused_paths_commit_nothing(root: Path, name: str, content: str | None) -> None:
    if content is not None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    (root / "ok.py").write_text("OK = 1\n")
    repo = Repo(root)
    head = gitops.head_sha(repo)
    with pytest.raises(PathRejected):
        gitops.commit_files(repo, ["ok.py", name], "msg", {})
    assert gitops.head_sha(repo) == head
    assert git(root, "diff", "--cached", "--name-only") == ""


def test_env_template_is_allowed(root: Path) -> None:
    (root / ".env.example").write_text("OPENAI_API_KEY=\n")
    repo = Repo(root)
    gitops.commit_files(repo, [".env.example"], "document the settings", {})
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [".env.example"]


SECRETS = {
    "aws": "AWS_ACCESS_KEY_ID = 'AKIAQ3EGRJ5XHMZ2WT7N'",
    "private-key": "-----BEGIN RSA PRIVATE KEY-----",
    "openssh-key": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "openai": "client = OpenAI(api_key='sk-proj-4fT9qLm2Xv8RzN1bKc7Hd3Wy6Pj0Ae5Us')",
    "github": "TOKEN = 'ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5'",
    "password": 'db_password = "Tr0ub4dor&3-horse-staple"',
    "stripe": 'stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"',
    "google": 'MAPS = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"',
    "slack": 'SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"',
    "npm-rc": "//npm.example.com/:_authToken=npm_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "npm-bare": "NPM = 'npm_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5'",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_planted_secret_is_refused(root: Path, kind: str) -> None:
    text = f"import os\n\n{SECRETS[kind]}\n"
    (root / "settings.py").write_text(text)
    (root / "pkg" / "mod.py").write_text("X = 3\n")
    repo = Repo(root)
    head = gitops.head_sha(repo)
    with pytest.raises(GitError, match=r"settings\.py:3 "):
        gitops.commit_files(repo, ["pkg/mod.py", "settings.py"], "add settings", {})
    assert gitops.head_sha(repo) == head
    assert git(root, "diff", "--cached", "--name-only") == ""
    assert (root / "settings.py").read_text() == text


@pytest.mark.parametrize(
    "line",
    [
        'password = "short"',
        "api_key = os.environ['OPENAI_API_KEY']",
        'password = "<your-password-here>"',
        'SECRET_KEY = "changeme-changeme"',
        "sk-learn is a nickname for scikit-learn",
        "AKIA is how AWS access keys start",
    ],
)
def test_benign_lines_are_not_secrets(line: str) -> None:
    assert gitops.find_secrets(line) == []


def test_commit_has_exactly_the_files_and_parseable_trailers(root: Path) -> None:
    (root / "a*.py").write_text("STAR = 1\n")  # a literal name, not a glob
    (root / "ab.py").write_text("AB = 1\n")
    (root / "a.txt").write_text("edited\n")
    repo = Repo(root)
    trailers = {
        "Greenloop-Run": "20250101T000000Z-abc123",
        "Model": "smollm2-135m",
        "Tokens": "1234",
        "Tests": "7 passed",
    }
    sha = gitops.commit_files(repo, ["a*.py", "./a.txt"], "Make the tests pass\n\nBody.", trailers)

    assert git(root, "rev-parse", "HEAD").strip() == sha
    assert sorted(git(root, "show", "--name-only", "--format=", "HEAD").split()) == [
        "a*.py",
        "a.txt",
    ]
    message = git(root, "log", "-1", "--format=%B")
    assert message.startswith("Make the tests pass\n\nBody.\n\n")
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert parsed.splitlines() == [f"{k}: {v}" for k, v in trailers.items()]
    assert git(root, "status", "--porcelain").splitlines() == ["?? ab.py"]


def test_foreign_staged_changes_block_the_commit(root: Path) -> None:
    (root / "c.txt").write_text("user staged this\n")
    git(root, "add", "c.txt")
    (root / "a.txt").write_text("agent\n")
    repo = Repo(root)
    with pytest.raises(GitError, match="already holds staged changes"):
        gitops.commit_files(repo, ["a.txt"], "msg", {})
    assert git(root, "diff", "--cached", "--name-only").split() == ["c.txt"]


@pytest.mark.parametrize("trailers", [{"Bad Key": "x"}, {"": "x"}])
def test_bad_trailer_keys_are_refused(trailers: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        gitops.format_message("msg", trailers)


def test_trailer_values_stay_on_one_line() -> None:
    text = gitops.format_message("msg", {"Tests": "3 passed\nInjected: yes"})
    assert text.endswith("\n\nTests: 3 passed Injected: yes\n")


# ---------------------------------------------------------------- the user's branch and work


@pytest.mark.parametrize("raised", [None, RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("detached", [False, True])
def test_work_on_branch_always_returns_the_user(
    root: Path, raised: type[BaseException] | None, detached: bool
) -> None:
    if detached:
        git(root, "switch", "-q", "--detach", "HEAD")
    (root / ".greenloop" / "runs").mkdir(parents=True)
    before = snapshot(root)
    repo = Repo(root)
    tip = git(root, "rev-parse", "main").strip()

    def body() -> None:
        with gitops.work_on_branch(repo, "greenloop/run-1") as branch:
            assert branch.name == "greenloop/run-1"
            assert gitops.current_branch(repo) == "greenloop/run-1"
            (root / "pkg" / "mod.py").write_text("X = 42\n")
            gitops.commit_files(repo, ["pkg/mod.py"], "fix", {"Tests": "1 passed"})
            (root / "a.txt").write_text("uncommitted\n")
            git(root, "add", "a.txt")
            (root / "c.txt").write_text("unstaged\n")
            (root / "d.txt").unlink()
            (root / "leftover.py").write_text("x\n")
            (root / "cache").mkdir()
            (root / "cache" / "x.log").write_text("ignored leftover\n")
            (root / ".greenloop" / "runs" / "trajectory.jsonl").write_text("{}\n")
            if raised is not None:
                raise raised("boom")

    if raised is None:
        body()
    else:
        with pytest.raises(raised):
            body()

    after = snapshot(root)
    trajectory = after["files"].pop(".greenloop/runs/trajectory.jsonl")  # type: ignore[attr-defined]
    assert trajectory[1] == b"{}\n", "the run record is kept"
    assert after == before
    assert git(root, "rev-parse", "main").strip() == tip
    assert git(root, "show", "--format=%s", "--name-only", "greenloop/run-1").split() == [
        "fix",
        "pkg/mod.py",
    ]


def test_branch_without_commits_is_deleted(root: Path) -> None:
    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/empty"):
        (root / "a.txt").write_text("red run, nothing committed\n")
    assert "greenloop/empty" not in [h.name for h in repo.heads]
    assert (root / "a.txt").read_text() == "alpha\nbeta\n"


def test_dirty_tree_is_refused_untouched(root: Path) -> None:
    make_dirty(root)
    before = snapshot(root)
    repo = Repo(root)
    with pytest.raises(UsageError, match="--allow-dirty"), gitops.work_on_branch(repo, "gl/x"):
        pytest.fail("the body must not run on a dirty tree")
    assert snapshot(root) == before
    assert [h.name for h in repo.heads] == ["main"]


def test_existing_branch_is_refused_and_kept(root: Path) -> None:
    git(root, "branch", "greenloop/taken")
    repo = Repo(root)
    with (
        pytest.raises(GitError, match="already exists"),
        gitops.work_on_branch(repo, "greenloop/taken"),
    ):
        pytest.fail("unreachable")
    assert "greenloop/taken" in [h.name for h in repo.heads]
    assert gitops.current_branch(repo) == "main"


def test_save_and_restore_are_exact(root: Path) -> None:
    make_dirty(root)
    before = snapshot(root)
    repo = Repo(root)
    saved = gitops.save_user_changes(repo)
    assert saved.stash_sha is not None
    assert gitops.is_dirty(repo) == []
    assert not (root / "new.txt").exists() and (root / "d.txt").exists()
    gitops.restore_user_changes(repo, saved)
    assert snapshot(root) == before
    assert git(root, "stash", "list") == ""


@pytest.mark.parametrize("raised", [None, RuntimeError])
def test_allow_dirty_run_keeps_the_users_work(root: Path, raised: type[Exception] | None) -> None:
    make_dirty(root)
    before = snapshot(root)
    repo = Repo(root)
    try:
        with gitops.work_on_branch(repo, "greenloop/fix-1", allow_dirty=True):
            assert (root / "a.txt").read_text() == "alpha\nbeta\n", "the run sees HEAD"
            (root / "a.txt").write_text("the fix\n")
            gitops.commit_files(repo, ["a.txt"], "fix", {})
            if raised is not None:
                raise raised("boom")
    except RuntimeError:
        assert raised is RuntimeError
    assert snapshot(root) == before
    assert git(root, "show", "greenloop/fix-1:a.txt") == "the fix\n"
    assert git(root, "stash", "list") == ""


def test_intent_to_add_is_refused_with_the_fix(root: Path) -> None:
    (root / "n.txt").write_text("n\n")
    git(root, "add", "-N", "n.txt")
    with pytest.raises(UsageError, match=r"git reset n\.txt"):
        gitops.save_user_changes(Repo(root))


def test_clean_tree_saves_nothing(root: Path) -> None:
    repo = Repo(root)
    saved = gitops.save_user_changes(repo)
    assert saved.stash_sha is None
    gitops.restore_user_changes(repo, saved)
    assert git(root, "stash", "list") == ""


def test_is_dirty_lists_tracked_and_untracked_not_ignored(root: Path) -> None:
    make_dirty(root)
    assert gitops.is_dirty(Repo(root)) == [
        "a.txt",
        "blob.bin",
        "c.txt",
        "d.txt",
        "new.txt",
        "pkg/deep/new.bin",
        "run.sh",
    ]


# ---------------------------------------------------------------- opening, branches, review


def test_open_or_init_uses_a_fallback_identity_without_writing_config(
    tmp_path: Path, isolated_git: Path
) -> None:
    isolated_git.write_text("")
    out = tmp_path / "out"
    repo = gitops.open_or_init(out)
    assert git(out, "log", "--format=%an <%ae>|%s").strip() == (
        "greenloop <greenloop@localhost>|greenloop: initial empty commit"
    )
    assert isolated_git.read_text() == ""
    assert git(out, "config", "--local", "--get-regexp", "^user\\.", check=False) == ""
    gitops.start_branch(repo, "greenloop/first")
    assert gitops.open_or_init(out).head.commit.hexsha == gitops.head_sha(repo)


def test_open_or_init_keeps_the_users_identity(tmp_path: Path) -> None:
    out = tmp_path / "out"
    gitops.open_or_init(out)
    assert git(out, "log", "--format=%an <%ae>").strip() == "Test User <test@example.com>"


def test_open_repo_outside_a_repository_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="git init"):
        gitops.open_repo(tmp_path / "plain")


@pytest.mark.parametrize(("name", "error"), [("bad name", UsageError), ("-x", UsageError)])
def test_bad_branch_names(root: Path, name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        gitops.start_branch(Repo(root), name)


def test_start_branch_leaves_the_checkout_alone(root: Path) -> None:
    before = snapshot(root)
    repo = Repo(root)
    branch = gitops.start_branch(repo, "greenloop/a")
    assert branch.commit.hexsha == gitops.head_sha(repo)
    assert snapshot(root) == before


def test_diff_stat_and_changed_files(root: Path) -> None:
    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/d"):
        (root / "pkg" / "mod.py").write_text("X = 5\n")
        (root / "pkg" / "new.py").write_text("Y = 1\n")
        gitops.commit_files(repo, ["pkg/mod.py", "pkg/new.py"], "change", {})
    assert gitops.changed_files(repo, "main", "greenloop/d") == ["pkg/mod.py", "pkg/new.py"]
    assert "2 files changed" in gitops.diff_stat(repo, "main", "greenloop/d")
    assert gitops.current_branch(repo) == "main"


def test_a_briefly_held_index_lock_is_waited_out(root: Path) -> None:
    lock = root / ".git" / "index.lock"
    lock.write_text("")
    timer = threading.Timer(0.3, lock.unlink)
    timer.start()
    (root / "a.txt").write_text("after the lock\n")
    repo = Repo(root)
    try:
        sha = gitops.commit_files(repo, ["a.txt"], "wait for the lock", {})
    finally:
        timer.join()
    assert git(root, "show", f"{sha}:a.txt") == "after the lock\n"


def test_a_held_index_lock_fails_with_git_words(root: Path) -> None:
    (root / ".git" / "index.lock").write_text("")
    (root / "a.txt").write_text("x\n")
    with pytest.raises(GitError, match=r"index\.lock"):
        gitops.commit_files(Repo(root), ["a.txt"], "locked", {})


def test_ctrl_c_while_putting_things_back_is_delivered_afterwards() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt), gitops._deferred_sigint():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("cleanup ran to the end")
    assert finished == ["cleanup ran to the end"]


def test_allow_dirty_with_the_run_records_folder_ignored(tmp_path: Path) -> None:
    """`.greenloop/` excluded through .git/info/exclude must not break saving the user's work."""
    repo_dir = tmp_path / "r"
    repo = Repo.init(repo_dir)
    (repo_dir / "a.txt").write_text("one\n")
    repo.index.add(["a.txt"])
    repo.index.commit("first")
    (repo_dir / ".git" / "info" / "exclude").write_text(".greenloop/\n")
    (repo_dir / ".greenloop").mkdir()
    (repo_dir / ".greenloop" / "run.json").write_text("{}")
    (repo_dir / "a.txt").write_text("one, edited\n")
    (repo_dir / "new.txt").write_text("untracked\n")
    saved = gitops.save_user_changes(gitops.open_repo(repo_dir))
    assert (repo_dir / "a.txt").read_text() == "one\n"
    gitops.restore_user_changes(gitops.open_repo(repo_dir), saved)
    assert (repo_dir / "a.txt").read_text() == "one, edited\n"
    assert (repo_dir / "new.txt").read_text() == "untracked\n"
    assert (repo_dir / ".greenloop" / "run.json").read_text() == "{}"


def test_open_or_init_takes_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = gitops.open_or_init(Path("rel") / "new-project")
    assert Path(repo.working_tree_dir or "") == tmp_path / "rel" / "new-project"
    assert not (tmp_path / "rel" / "new-project" / "rel").exists()
    assert gitops.head_sha(repo)


# ---------------------------------------------------------------- drivers from the repo's config


def arm_drivers(root: Path, marker: Path) -> None:
    """A .gitattributes naming filter, merge and diff drivers, and a .git/config that
    defines them (and other command-running settings) to write `marker`."""
    trap = f"echo ran >> {marker}"
    (root / ".gitattributes").write_text("* filter=evil merge=evil diff=evil\n")
    git(root, "add", ".gitattributes")
    git(root, "commit", "-q", "-m", "attributes")
    for key, value in [
        ("filter.evil.clean", f"{trap}; cat"),
        ("filter.evil.smudge", f"{trap}; cat"),
        ("filter.evil.required", "true"),
        ("merge.evil.driver", f"{trap}; exit 0"),
        ("diff.evil.textconv", f"{trap}; cat"),
        ("diff.external", f"{trap}"),
        ("core.pager", f"{trap}; cat"),
        ("core.editor", trap),
        ("core.sshCommand", trap),
        ("credential.helper", f"!{trap}"),
        ("gpg.program", trap),
        ("log.showSignature", "true"),
    ]:
        git(root, "config", key, value)


def test_filter_trap_fires_for_plain_git(root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "driver-ran"
    arm_drivers(root, marker)
    (root / "a.txt").write_text("changed\n")
    git(root, "add", "a.txt", safe=False)
    git(root, "checkout", "-q", "--", ".", safe=False)
    assert marker.exists(), "the trap must fire for plain git, or the tests below prove nothing"


@pytest.mark.parametrize("operation", [_op_status, _op_commit, _op_save_restore, _op_branch])
def test_repo_defined_drivers_never_run(
    root: Path, tmp_path: Path, operation: Callable[[Repo, Path], None]
) -> None:
    marker = tmp_path / "driver-ran"
    arm_drivers(root, marker)
    operation(Repo(root), root)
    assert not marker.exists(), marker.read_text()


def test_the_users_own_filter_still_runs(root: Path, tmp_path: Path, isolated_git: Path) -> None:
    """A filter from the user's global config (git-lfs-like) keeps working, even when
    the repository's config tries to redefine it."""
    mine, theirs = tmp_path / "mine-ran", tmp_path / "theirs-ran"
    with isolated_git.open("a") as config:
        config.write(f'[filter "lfsish"]\n\tclean = "echo x >> {mine}; cat"\n')
    (root / ".gitattributes").write_text("*.txt filter=lfsish\n")
    git(root, "config", "filter.lfsish.clean", f"echo x >> {theirs}; cat")
    (root / "a.txt").write_text("changed\n")
    gitops.commit_files(Repo(root), [".gitattributes", "a.txt"], "mine", {})
    assert mine.exists() and not theirs.exists()


def test_a_repo_defined_merge_driver_fails_closed(root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "driver-ran"
    arm_drivers(root, marker)
    repo = Repo(root)
    (root / "a.txt").write_text("mine\n")
    saved = gitops.save_user_changes(repo)
    (root / "a.txt").write_text("conflicting\n")
    git(root, "commit", "-q", "-am", "moved on")  # plain git: the filter runs here
    marker.unlink()
    with pytest.raises(GitError, match="git stash apply --index"):
        gitops.restore_user_changes(repo, saved)
    assert not marker.exists()


def test_a_work_tree_moved_elsewhere_by_the_repos_config_is_refused(
    root: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(root, "config", "core.worktree", str(elsewhere))
    git(root, "reset", "-q", "--hard", safe=False)
    assert (elsewhere / "a.txt").exists(), "plain git must check out there, or this proves nothing"
    (elsewhere / "a.txt").unlink()
    with pytest.raises(UsageError, match=r"core\.worktree"):
        gitops.open_repo(root)
    with pytest.raises(UsageError, match=r"core\.worktree"):
        gitops.open_or_init(root)
    # A Repo opened some other way: git still works on `root`, where a.txt is, not elsewhere.
    assert gitops.is_dirty(Repo(root)) == []


def test_a_submodules_own_filter_never_runs(root: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    (sub / ".gitattributes").write_text("* filter=evil\n")
    (sub / "f.txt").write_text("a\n")
    git(sub, "add", ".")
    git(sub, "commit", "-q", "-m", "sub")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    git(root, "commit", "-q", "-m", "add the submodule")
    marker = tmp_path / "sub-filter-ran"
    git(root / "sub", "config", "filter.evil.clean", f"echo ran >> {marker}; cat")
    (root / "sub" / "f.txt").write_text("changed\n")
    git(root, "status", safe=False)
    assert marker.exists(), "the trap must fire for plain git, or this test proves nothing"
    marker.unlink()

    repo = Repo(root)
    gitops.ensure_clean(repo)
    with gitops.work_on_branch(repo, "greenloop/sub"):
        (root / "a.txt").write_text("on branch\n")
        gitops.commit_files(repo, ["a.txt"], "on branch", {})
    assert not marker.exists()
    assert (root / "sub" / "f.txt").read_text() == "changed\n"


def test_a_finished_fix_branch_checked_out_to_review_is_not_a_leftover(root: Path) -> None:
    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/fix-done"):
        (root / "a.txt").write_text("fixed\n")
        gitops.commit_files(repo, ["a.txt"], "fix", {})
    git(root, "switch", "-q", "greenloop/fix-done")
    gitops.refuse_leftovers(repo, "greenloop/fix-")  # no error: the user is reviewing it
    (root / "c.txt").write_text("half-written\n")
    with pytest.raises(UsageError, match="review it before deleting it"):
        gitops.refuse_leftovers(repo, "greenloop/fix-")
