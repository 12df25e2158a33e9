"""What the spec's code gives for free: its imports put back into candidates that dropped them."""

from __future__ import annotations

import pytest

from agent.new.speccode import (
    ImportLine,
    drop_self_imports,
    read_spec_code,
    restore_definitions,
    restore_imports,
)

SPEC = """# Below zero

Write `solution.py`:

```python
from typing import List
import math as m


def below_zero(operations: List[int]) -> bool:
    \"\"\"True when the balance ever falls below zero.\"\"\"
```

Also `class Account:` keeps the balance (see `helpers/money.py`; its key in `.env`;
every `.py` file is checked).
"""


def test_the_spec_shows_its_imports_signatures_and_files() -> None:
    code = read_spec_code(SPEC)
    assert [(i.text, i.names) for i in code.imports] == [
        ("from typing import List", ("List",)),
        ("import math as m", ("m",)),
    ]
    assert code.signatures == {"below_zero": "def below_zero(operations: List[int]) -> bool:"}
    assert code.files == ("solution.py", "helpers/money.py", ".env")
    assert code.modules == ("typing", "math")


def test_a_stub_that_does_not_parse_still_gives_its_signature() -> None:
    code = read_spec_code("Write `calc.py`:\n\n```python\ndef add(a, b):\n```\n")
    assert code.signatures == {"add": "def add(a, b):"} and code.imports == ()


DROPPED = '''"""Balance."""
from __future__ import annotations


def below_zero(operations: List[int]) -> bool:
    return m.floor(min(accumulate(operations), default=0)) < 0
'''


def test_dropped_spec_imports_come_back_after_docstring_and_future() -> None:
    source, added = restore_imports(DROPPED, read_spec_code(SPEC).imports)
    assert added == [
        "from typing import List",
        "import math as m",
        "from itertools import accumulate",
    ]
    assert source.startswith(
        '"""Balance."""\nfrom __future__ import annotations\n\nfrom typing import List\n'
        "import math as m\nfrom itertools import accumulate\n\n\ndef below_zero"
    )
    compile(source, "solution.py", "exec")


@pytest.mark.parametrize(
    "source",
    [
        "from typing import List\n\ndef f(x: List[int]) -> int:\n    return len(x)\n",
        "def f(List):\n    return List\n",  # bound as a parameter
        "def f(x):\n    return sorted(x)\n",  # builtins need nothing
        "def f(x:\n",  # does not parse: left to the syntax gate
    ],
    ids=["imported", "bound-locally", "builtins", "unparseable"],
)
def test_nothing_is_added_when_nothing_is_missing(source: str) -> None:
    assert restore_imports(source, [ImportLine("from typing import List", ("List",))]) == (
        source,
        [],
    )


def test_a_standard_module_used_without_import_is_imported() -> None:
    source, added = restore_imports("def root(x):\n    return math.sqrt(x)\n")
    assert added == ["import math"]
    assert source == "import math\n\n\ndef root(x):\n    return math.sqrt(x)\n"


def test_an_unknown_free_name_is_left_alone() -> None:
    source = "def f():\n    return helper()\n"
    assert restore_imports(source) == (source, [])


def test_a_file_importing_itself_loses_that_import() -> None:
    source = "from solution import common\nimport os\n\ndef common(a, b):\n    return a\n"
    kept, dropped = drop_self_imports(source, "solution")
    assert dropped == ["from solution import common"]
    assert kept == "import os\n\ndef common(a, b):\n    return a\n"
    assert drop_self_imports(kept, "solution") == (kept, [])
    assert drop_self_imports("import pkg.mod\n", "pkg.mod") == ("", ["import pkg.mod"])


SHIFT_SPEC = '''Write `solution.py`:

```python
def encode_shift(s: str):
    """Shift every letter by 5."""
    return "".join(chr(((ord(ch) + 5 - ord("a")) % 26) + ord("a")) for ch in s)


def decode_shift(s: str):
    """Takes a string encoded with encode_shift."""
```
'''


def test_a_helper_the_spec_wrote_out_is_put_back_when_the_candidate_uses_it() -> None:
    code = read_spec_code(SHIFT_SPEC)
    assert list(code.definitions) == ["encode_shift"]  # decode_shift is only a stub
    candidate = "import string\n\ndef decode_shift(s: str):\n    return encode_shift(s)[::-1]\n"
    source, added = restore_definitions(candidate, code.definitions)
    assert added == ["encode_shift"]
    assert source.startswith("import string\n\n\ndef encode_shift(s: str):\n")
    assert source.endswith("\n\n\ndef decode_shift(s: str):\n    return encode_shift(s)[::-1]\n")
    namespace: dict[str, object] = {}
    exec(compile(source, "solution.py", "exec"), namespace)
    assert "encode_shift" in namespace
    defines_it = "def encode_shift(s):\n    return s\n\ndef decode_shift(s):\n    return s\n"
    assert restore_definitions(defines_it, code.definitions) == (defines_it, [])
