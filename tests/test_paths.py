"""sandbox.paths: the one validator for every path the model names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.errors import PathRejected
from sandbox.paths import MAX_FILE_BYTES, MAX_FILES, MAX_PATH_CHARS, check_files, safe_path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    return project


def _tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


@pytest.mark.parametrize(
    "rel",
    [
        "a.py",
        "pkg/mod.py",
        "tests/test_x.py",
        ".github/workflows/ci.yml",
        ".gitignore",
        "a/b/c/d/e.txt",
        "name with spaces.md",
        "ünïcode.py",
        "x" * MAX_PATH_CHARS,
    ],
)
def test_safe_paths_are_accepted(root: Path, rel: str) -> None:
    assert safe_path(root, rel) == root.resolve() / rel


@pytest.mark.parametrize(
    "rel",
    [
        "",
        "   ",
        "../x",
        "..",
        "a/../../x",
        "a/../b",
        "/etc/x",
        "/",
        "~/x",
        "~root/x",
        ".git/hooks/x",
        ".git",
        "sub/.git/config",
        "a\x00b",
        "a.py\x00.txt",
        "a\\b",
        "..\\x",
        "a\nb",
        "a\tb",
        "a//b",
        "a/",
        ".",
        "x" * (MAX_PATH_CHARS + 1),
        "/".join(["d"] * 200),
    ],
)
def test_attacks_are_refused(root: Path, rel: str) -> None:
    with pytest.raises(PathRejected):
        safe_path(root, rel)


def test_a_symlinked_folder_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(PathRejected, match="outside"):
        safe_path(root, "link/x.py")
    with pytest.raises(PathRejected):
        check_files(root, {"link/x.py": "pwned"})
    assert list(outside.iterdir()) == []


def test_a_symlinked_file_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(PathRejected):
        safe_path(root, "passwd")


def test_a_symlink_that_stays_inside_is_accepted(root: Path) -> None:
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real")
    assert safe_path(root, "alias/x.py") == root.resolve() / "alias/x.py"


def test_root_given_through_a_symlink_still_works(root: Path, tmp_path: Path) -> None:
    via = tmp_path / "via"
    via.symlink_to(root)
    assert safe_path(via, "a.py") == root.resolve() / "a.py"


def test_check_files_returns_bytes_for_every_file(root: Path) -> None:
    checked = check_files(root, {"a.py": "x = 'é'\n", "b.bin": b"\x00\x01"})
    assert checked == {
        root.resolve() / "a.py": "x = 'é'\n".encode(),
        root.resolve() / "b.bin": b"\x00\x01",
    }
    assert _tree(root) == []  # validation writes nothing


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "a/../../x", ".git/hooks/x", "a\x00b"])
def test_check_files_is_all_or_nothing(root: Path, bad: str) -> None:
    files = {"first.py": "ok", "pkg/second.py": "ok", bad: "pwned", "last.py": "ok"}
    with pytest.raises(PathRejected):
        check_files(root, files)
    assert _tree(root) == []
    assert not (root.parent / "x").exists()


@pytest.mark.parametrize(
    ("count", "ok"), [(MAX_FILES, True), (MAX_FILES + 1, False)], ids=["at-cap", "over-cap"]
)
def test_too_many_files(root: Path, count: int, ok: bool) -> None:
    files = {f"f{i}.py": "" for i in range(count)}
    if ok:
        assert len(check_files(root, files)) == count
    else:
        with pytest.raises(PathRejected, match="at most"):
            check_files(root, files)


@pytest.mark.parametrize(
    ("size", "ok"),
    [(MAX_FILE_BYTES, True), (MAX_FILE_BYTES + 1, False)],
    ids=["at-cap", "over-cap"],
)
def test_oversize_file(root: Path, size: int, ok: bool) -> None:
    files: dict[str, str | bytes] = {"small.py": "x", "big.bin": b"\0" * size}
    if ok:
        assert len(check_files(root, files)[root.resolve() / "big.bin"]) == size
    else:
        with pytest.raises(PathRejected, match="byte cap"):
            check_files(root, files)


def test_caps_are_configurable(root: Path) -> None:
    with pytest.raises(PathRejected):
        check_files(root, {"a": "", "b": ""}, max_files=1)
    with pytest.raises(PathRejected):
        check_files(root, {"a": "12345"}, max_bytes=4)
    # a str is measured in encoded bytes, not characters
    with pytest.raises(PathRejected):
        check_files(root, {"a": "éé"}, max_bytes=3)


def test_nothing_outside_changes_when_refused(root: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "x"
    sentinel.write_text("keep")
    before = os.stat(sentinel).st_mtime_ns
    with pytest.raises(PathRejected):
        check_files(root, {"../x": "pwned"})
    assert sentinel.read_text() == "keep" and os.stat(sentinel).st_mtime_ns == before


@pytest.mark.parametrize(
    "rel",
    ["é" * 128 + ".py", "pkg/" + "日" * 90, "ok/" + "x" * 200 + "ü" * 28],
    ids=["256-bytes-in-128-chars", "270-bytes-in-a-folder-name", "mixed-257-bytes"],
)
def test_a_name_over_255_bytes_is_refused_though_under_255_characters(root: Path, rel: str) -> None:
    assert len(rel) <= MAX_PATH_CHARS
    with pytest.raises(PathRejected, match="over 255 bytes"):
        check_files(root, {rel: "x = 1\n"})
    with pytest.raises(OSError, match="too long"):  # what the file system would have said
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")


def test_a_name_of_exactly_255_bytes_is_taken(root: Path) -> None:
    rel = "é" * 125 + "ab.py"
    assert len(rel.encode()) == 255
    assert list(check_files(root, {rel: "x"})) == [root.resolve() / rel]


@pytest.mark.parametrize("rel", ["a\x7f.py", "a\x9b2J.py", "pkg/\x1b]52;c;x\x07.py"])
def test_del_and_c1_controls_are_refused_like_c0(root: Path, rel: str) -> None:
    with pytest.raises(PathRejected, match="control character"):
        check_files(root, {rel: "x"})


@pytest.mark.parametrize(
    "rel",
    [f"evil{chr(c)}yp.py" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))],
    ids=[f"U+{c:04X}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))],
)
def test_bidirectional_controls_are_refused(root: Path, rel: str) -> None:
    with pytest.raises(PathRejected, match="bidirectional control"):
        check_files(root, {rel: "x"})
    assert list(root.iterdir()) == []
