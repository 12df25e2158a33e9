"""agent.git.commits: exactly the files given, no secrets, trailers that parse."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from git import Repo
from git_plain import git

from agent import git as gitops
from agent.errors import GitError, PathRejected, UsageError

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
