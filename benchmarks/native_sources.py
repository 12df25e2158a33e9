"""Real Go and Rust sources from Debian, with their own tests, and one-line bugs for them.

    folder = fetch(SOURCES["strsim"], cache)      # apt-get download + dpkg-deb -x, once
    clean = clean_copy(SOURCES["strsim"], cache, into)   # ready for `cargo test`
    red, how = bare(clean, "rust")                  # the host's toolchain: red?, how it fails

Debian's `golang-*-dev` packages carry a module's full sources under
`/usr/share/gocode/src/<import path>/`, and its `librust-*-dev` packages a crate's under
`/usr/share/cargo/registry/<crate>-<version>/`, tests included. The ones here depend on
nothing outside their language's standard library (semver's only dependency, serde, is
optional: it is dropped from its Cargo.toml). A Go module without a go.mod gets one
naming its import path; a crate loses Debian's and cargo's packaging files and its
benches (nightly's `#![feature(test)]`, and `cargo test` never runs them).

`BUGS` are one-line bugs (a comparison turned around, a constant off by one, a wrong
operator), each the file, its line number, the line as shipped and the line with the bug;
`bare` runs the tests on the host (`go test ./...`; `cargo test --tests`, doc tests left
out as the sandbox's judge leaves them) to check that each makes them red.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUGS",
    "SOURCES",
    "Bug",
    "Source",
    "bare",
    "clean_copy",
    "fetch",
    "host_failures",
    "with_bug",
]


@dataclass(frozen=True)
class Source:
    """A Debian package and where its sources are inside it."""

    name: str
    package: str
    language: str
    """go or rust: the toolchain that runs its tests."""
    inside: str
    """The sources' folder inside the package."""
    module: str = ""
    """A Go module's path, for the go.mod it is given when it ships none."""
    drop: tuple[str, ...] = ()
    """Files left out of the copy (each `Source` says why)."""


@dataclass(frozen=True)
class Bug:
    source: str
    path: str
    line: int
    """1-based."""
    original: str
    buggy: str


SOURCES = {
    s.name: s
    for s in (
        Source("go-humanize", "golang-github-dustin-go-humanize-dev", "go",
               "usr/share/gocode/src/github.com/dustin/go-humanize",
               "github.com/dustin/go-humanize"),
        Source("go-version", "golang-github-hashicorp-go-version-dev", "go",
               "usr/share/gocode/src/github.com/hashicorp/go-version",
               "github.com/hashicorp/go-version"),
        Source("strsim", "librust-strsim-dev", "rust", "usr/share/cargo/registry/strsim-*"),
        # its build.rs only sets cfgs for rustc older than 1.53 (none on 1.85), and the
        # sandbox runs no build script (cargo builds in a noexec /tmp): a no-op, dropped
        Source("semver", "librust-semver-dev", "rust", "usr/share/cargo/registry/semver-*",
               drop=("build.rs",)),
    )
}  # fmt: skip

BUGS = (
    Bug("go-humanize", "ordinals.go", 12, "\t\tif x%100 != 11 {", "\t\tif x%100 == 11 {"),
    Bug("go-humanize", "comma.go", 31, "\tfor v > 999 {", "\tfor v > 1000 {"),
    Bug("go-humanize", "comma.go", 35, '\t\t\tparts[j] = "0" + parts[j]',
        '\t\t\tparts[j] = "00" + parts[j]'),
    Bug("go-humanize", "bytes.go", 76, "\tif val < 10 {", "\tif val <= 10 {"),
    Bug("go-humanize", "english/words.go", 52,
        "\tif l >= 2 && singular[l-1] == 'o' && !isVowel[singular[l-2]] {",
        "\tif l >= 2 && singular[l-1] == 'o' && isVowel[singular[l-2]] {"),
    Bug("go-version", "version.go", 174, "\t\t} else if lhs < rhs {", "\t\t} else if lhs > rhs {"),
    Bug("go-version", "constraint.go", 198, "\tif c.segments[cs-1] > v.segments[cs-1] {",
        "\tif c.segments[cs-1] >= v.segments[cs-1] {"),
    Bug("go-version", "version.go", 232,
        "\t} else if !selfNumeric && !otherNumeric && preSelf > preOther {",
        "\t} else if !selfNumeric && !otherNumeric && preSelf < preOther {"),
    Bug("strsim", "src/lib.rs", 42, "            (Some(x), Some(y)) => if x != y { count += 1 },",
        "            (Some(x), Some(y)) => if x == y { count += 1 },"),
    Bug("strsim", "src/lib.rs", 217,
        "            let cost = if a_elem == b_elem { 0usize } else { 1usize };",
        "            let cost = if a_elem == b_elem { 0usize } else { 2usize };"),
    Bug("strsim", "src/lib.rs", 291, "            let cost = if a_char == b_char { 0 } else { 1 };",
        "            let cost = if a_char != b_char { 0 } else { 1 };"),
    Bug("strsim", "src/lib.rs", 367, "            if a_elems[i - 1] == b_elems[j - 1] {",
        "            if a_elems[i - 1] != b_elems[j - 1] {"),
    Bug("strsim", "src/lib.rs", 470, "            if *bi > 0 {", "            if *bi >= 0 {"),
    Bug("semver", "src/eval.rs", 66, "        return ver.major > cmp.major;",
        "        return ver.major < cmp.major;"),
    Bug("semver", "src/eval.rs", 133, "    ver.pre >= cmp.pre", "    ver.pre > cmp.pre"),
    Bug("semver", "src/eval.rs", 149, "                return ver.minor >= minor;",
        "                return ver.minor > minor;"),
)  # fmt: skip


def fetch(source: Source, cache: Path) -> Path:
    """The package's sources, unpacked in `cache` (`apt-get download`, `dpkg-deb -x`, once)."""
    debs, unpacked = cache / "debs", cache / "unpacked" / source.package
    if not unpacked.is_dir():
        debs.mkdir(parents=True, exist_ok=True)
        if not list(debs.glob(f"{source.package}_*.deb")):
            _run(["apt-get", "download", source.package], debs)
        deb = sorted(debs.glob(f"{source.package}_*.deb"))[-1]
        partial = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(partial)], cache)
        partial.rename(unpacked)
    found = sorted(unpacked.glob(source.inside))
    if len(found) != 1:
        sys.exit(f"{source.package}: expected one {source.inside}, found {found}")
    return found[0]


def clean_copy(source: Source, cache: Path, into: Path) -> Path:
    """The sources copied to `into`, ready for their toolchain's tests offline."""
    shutil.copytree(fetch(source, cache), into, symlinks=False)
    for name in source.drop:
        (into / name).unlink()
    if source.language == "go":
        if not (into / "go.mod").is_file():
            (into / "go.mod").write_text(f"module {source.module}\n\ngo 1.19\n")
        return into
    for name in ("Cargo.toml.orig", ".cargo_vcs_info.json", ".cargo-checksum.json", "Cargo.lock"):
        (into / name).unlink(missing_ok=True)
    shutil.rmtree(into / "benches", ignore_errors=True)
    manifest = into / "Cargo.toml"
    manifest.write_text(offline_manifest(manifest.read_text()))
    return into


def offline_manifest(text: str) -> str:
    """A Cargo.toml with nothing to fetch: no optional dependency, no dev-dependency, no
    bench (their sections dropped whole); a required dependency is left for cargo to
    refuse."""
    kept: list[str] = []
    dropping = False
    for section in re.split(r"(?m)^(?=\[)", text):
        header = section.split("\n", 1)[0].strip()
        body = section.split("\n", 1)[1] if "\n" in section else ""
        if header.startswith("[dev-dependencies") or header == "[[bench]]":
            dropping = True
        elif header.startswith("[dependencies."):
            dropping = re.search(r"(?m)^optional\s*=\s*true", body) is not None
        else:
            dropping = False
        if not dropping:
            kept.append(section)
    return "".join(kept)


def with_bug(clean: Path, bug: Bug) -> str:
    """The file's text with the bug in (the shipped line checked first)."""
    lines = (clean / bug.path).read_text().splitlines(keepends=True)
    shipped = lines[bug.line - 1].rstrip("\n")
    if shipped != bug.original:
        sys.exit(f"{bug.source} {bug.path}:{bug.line} is {shipped!r}, not {bug.original!r}")
    lines[bug.line - 1] = bug.buggy + "\n"
    return "".join(lines)


def bare(folder: Path, language: str) -> tuple[bool, str]:
    """Whether the tests are red on the host, and how they fail: on an assertion (a Go
    test's `t.Error`, a Rust `assert!` or a test helper's panic), a panic, or a build
    error. Cargo builds in a fresh target folder: a copy's files keep the shipped
    mtimes, which a shared one would take for up to date."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
           "CARGO_NET_OFFLINE": "true"}  # fmt: skip
    env["PATH"] = f"{Path.home() / '.cargo' / 'bin'}:{env.get('PATH', '')}"
    command = (
        ["go", "test", "-count=1", "./..."] if language == "go" else ["cargo", "test", "--tests"]
    )
    with tempfile.TemporaryDirectory() as target:
        env["CARGO_TARGET_DIR"] = target
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600,
                              env=env)  # fmt: skip
    return done.returncode != 0, _how(language, done.stdout + done.stderr)


def _how(language: str, output: str) -> str:
    if language == "go":
        if "[build failed]" in output or "[setup failed]" in output:
            return "build"
        return "panic" if "\npanic: " in output else "assertion"
    if "error[E" in output or "could not compile" in output:
        return "build"
    if "assertion" in output or re.search(r"panicked at tests/", output):
        return "assertion"  # assert!'s, or a test helper's (#[track_caller]) panic
    return "panic"


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr[-500:]}")


def host_failures(folder: Path, language: str) -> dict[str, str]:
    """The failing tests of a host run, by the sandbox judges' ids, each with its failure's
    text (an approximation of the judges' reports, for predicting localization with no
    sandbox): Go's `path_test.go::TestName/sub` (the file that defines `TestName`), from
    `go test -json`; Rust's `src/lib.rs::tests::name` or `tests/x.rs::name`, from
    libtest's text (an inline test is taken to be in src/lib.rs), no backtrace."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
           "CARGO_NET_OFFLINE": "true", "RUST_BACKTRACE": "0"}  # fmt: skip
    env["PATH"] = f"{Path.home() / '.cargo' / 'bin'}:{env.get('PATH', '')}"
    if language == "go":
        done = subprocess.run(["go", "test", "-count=1", "-json", "./..."], cwd=folder,
                              capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
        return _go_failures(folder, done.stdout)
    with tempfile.TemporaryDirectory() as target:
        env["CARGO_TARGET_DIR"] = target
        done = subprocess.run(
            ["cargo", "test", "--tests", "--no-fail-fast", "--", "--test-threads=1"],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=600, env=env,
        )  # fmt: skip
    return _rust_failures(done.stdout)  # cargo's "Running" lines in order


def _go_failures(folder: Path, stream: str) -> dict[str, str]:
    module = re.search(r"(?m)^module\s+(\S+)", (folder / "go.mod").read_text())
    prefix = module.group(1) if module else ""
    output: dict[tuple[str, str], list[str]] = {}
    failed: list[tuple[str, str]] = []
    for line in stream.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        key = (event.get("Package", ""), event.get("Test", ""))
        if not key[1]:
            continue
        if event.get("Action") == "output":
            output.setdefault(key, []).append(event.get("Output", ""))
        elif event.get("Action") == "fail":
            failed.append(key)
    out: dict[str, str] = {}
    for package, test in failed:
        if any(t.startswith(test + "/") for p, t in failed if p == package):
            continue  # a parent of failing subtests: its leaves say it
        folder_rel = package.removeprefix(prefix).strip("/")
        home = folder / folder_rel
        top = test.split("/", 1)[0]
        defines = [p for p in sorted(home.glob("*_test.go"))
                   if re.search(rf"(?m)^func {re.escape(top)}\(", p.read_text())]  # fmt: skip
        if defines:
            rel = defines[0].relative_to(folder).as_posix()
            out[f"{rel}::{test}"] = "".join(output.get((package, test), []))
    return out


def _rust_failures(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    home = ""
    sections = re.split(r"(?m)^(?=\s*Running |---- )", text)
    for section in sections:
        running = re.match(r"\s*Running (?:unittests )?(\S+)", section)
        if running:
            home = running.group(1)
            continue
        failure = re.match(r"---- (\S+) stdout ----\n(.*)", section, re.S)
        if failure and home:
            body = failure.group(2).split("\nfailures:\n", 1)[0]
            out[f"{home}::{failure.group(1)}"] = body.strip()
    return out
