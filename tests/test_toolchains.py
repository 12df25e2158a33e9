"""The toolchain seam: every registered toolchain is whole, and the callers' questions
(which files are tests, which tests must run, what a repository is) are answered by the
toolchains, for all five languages alike."""

from __future__ import annotations

import pytest

from sandbox.errors import UsageError
from sandbox.toolchains import NAMES, Toolchain, detect, expected_tests, runner_of, toolchain

MEMBERS = sorted(
    name for name in vars(Toolchain) if not name.startswith("_") and name not in ("register",)
)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_toolchain_has_the_whole_protocol(name: str) -> None:
    chain = toolchain(name)
    assert chain.name == name
    missing = [m for m in MEMBERS if not hasattr(chain, m)]
    assert not missing, f"{name} lacks {missing}"
    assert chain.default_command and chain.test_hint and chain.extensions and chain.manifests
    assert chain.image.toolchain == name


def test_an_unknown_toolchain_names_the_ones_there_are() -> None:
    with pytest.raises(UsageError, match="python, javascript, go, rust"):
        toolchain("cobol")


GO_TEST = 'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {}\n'
RUST_INLINE = "pub fn add() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {}\n}\n"
JS_TEST = "import test from 'node:test';\ntest('adds', () => {});\n"
PY_TEST = "def test_adds():\n    pass\n"


def test_each_test_file_is_told_by_its_own_runner_and_its_tests_read_by_it() -> None:
    files = {
        "calc/calc_test.go": GO_TEST,
        "src/lib.rs": RUST_INLINE,
        "test/add.test.mjs": JS_TEST,
        "tests/test_add.py": PY_TEST,
    }
    runners = {
        path: (runner_of(path, text) or toolchain("python")).name for path, text in files.items()
    }
    assert runners == {
        "calc/calc_test.go": "go",
        "src/lib.rs": "rust",
        "test/add.test.mjs": "javascript",
        "tests/test_add.py": "python",
    }
    assert expected_tests(files) == {
        "calc/calc_test.go::TestAdd",
        "src/lib.rs::tests::adds",
        "test/add.test.mjs::adds",
        "tests/test_add.py::test_adds",
    }
    # a Rust file with inline tests runs as tests but stays the model's to edit
    assert not toolchain("rust").protects("src/lib.rs", RUST_INLINE)
    assert toolchain("go").protects("calc/calc_test.go", GO_TEST)


def test_a_folder_is_told_by_its_tests_then_its_manifest() -> None:
    assert detect(["go.mod", "calc.go", "calc_test.go"]).name == "go"
    assert detect(["Cargo.toml", "src/lib.rs", "tests/add.rs"]).name == "rust"
    assert detect(["Cargo.toml", "src/lib.rs"]).name == "rust"
    with pytest.raises(UsageError, match="language"):
        detect(["calc_test.go", "tests/add.rs"])
