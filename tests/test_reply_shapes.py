"""Replies that end when their content ends, plans that parse, plans not asked for.

Through the real openai client against the fake server (no engine): what each
request carries (stop sequences, max_tokens, response_format), what happens
when an endpoint refuses a schema, and when no plan is asked at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply, Request

from agent.errors import ModelError
from agent.model import ModelConfig, OpenAIChat
from agent.new.generate import Generator, make_plan
from agent.new.plan import Plan, PlannedFile, plan_schema
from agent.new.prompts import code_to_complete
from agent.new.requirements import extract_requirements
from agent.run.budget import Budget, Caller
from agent.run.events import Event, PlanSkipped
from agent.run.replies import (
    BODY_STOPS,
    FENCE_STOP,
    body_reply,
    code_tokens,
    edit_reply,
    file_reply,
)
from agent.task import TaskConfig

SPEC = "# Add\n\nWrite `calc.py` with one function:\n\n```python\ndef add(a, b):\n```\n"
TESTS = {"tests/test_calc.py": "from calc import add\n\ndef test_add():\n    assert add(2, 3)\n"}
# a spec that names a file the tests do not import: the model is asked for the plan
SPEC_MORE = SPEC + "\nKeep the constants in `settings.py`.\n"
PLAN_JSON = json.dumps(
    {
        "files": [{"path": "calc.py", "purpose": "add", "interface": ["def add(a, b)"]}],
        "test_command": "python -m pytest -q",
        "packages": [],
        "test_files": [],
    }
)
REFUSED = Reply(status=400, error="response_format.type json_schema is not supported")


class Events:
    """The trajectory a Caller writes, kept in memory."""

    def __init__(self) -> None:
        self.items: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.items.append(event)

    def named(self, name: str) -> list[Event]:
        return [event for event in self.items if event.name == name]


def _model(srv: FakeOpenAI, **settings: Any) -> OpenAIChat:
    return OpenAIChat(
        ModelConfig(model="fake", base_url=srv.base_url, api_key="k", backoff=0.01, **settings)
    )


def _caller(model: OpenAIChat) -> tuple[Caller, Events]:
    events = Events()
    return Caller(model, Budget(TaskConfig(max_tokens=10**7)), events), events


def _schema_of(request: Request) -> Any:
    return request.body.get("response_format")


# --- stop sequences and max_tokens ---------------------------------------------------------


def test_a_file_reply_stops_after_its_closing_fence_and_is_sized_from_the_spec() -> None:
    # the server stops where the stop sequence matched: the closing fence is not in the text
    cut = "Here it is:\n```python\ndef add(a, b):\n    return a + b"
    with FakeOpenAI([Reply(text=cut)]) as srv:
        ask, _ = _caller(_model(srv))
        target = PlannedFile(path="calc.py", purpose="add", interface=["def add(a, b)"])
        plan = Plan(files=[target])
        files = Generator(ask, SPEC, plan, TESTS, extract_requirements(TESTS))(0.0)
        sent = srv.chat_requests[0].body
    assert files == {"calc.py": "def add(a, b):\n    return a + b\n"}
    # the spec shows the skeleton: completing it also ends where top-level tries begin
    assert sent["stop"] == [FENCE_STOP, *BODY_STOPS]
    # sized from the skeleton it completes, not from the whole spec around it
    assert sent["max_tokens"] == body_reply(code_to_complete(SPEC, target))["max_tokens"]
    assert sent["max_tokens"] <= file_reply(SPEC, target.interface)["max_tokens"]


def test_file_cap_grows_with_the_spec_and_stays_bounded() -> None:
    small = file_reply("def add(a, b):")["max_tokens"]
    larger = file_reply("x = 1\n" * 400, ["def f(a)"] * 10)["max_tokens"]
    huge = file_reply("x = 1\n" * 100_000)["max_tokens"]
    assert small < larger < huge == 2048


def test_a_completed_skeleton_gets_its_own_size_and_room_for_its_bodies() -> None:
    one = 'def f(xs: list) -> int:\n    """' + "Explain the function. " * 30 + '"""\n'
    shape = body_reply(one)
    assert code_tokens(one) + 160 <= shape["max_tokens"] < 2 * code_tokens(one) + 200
    assert body_reply(one * 20)["max_tokens"] > shape["max_tokens"]
    assert body_reply("def f():\n    pass\n")["max_tokens"] == 256
    assert body_reply(one * 1000)["max_tokens"] == 2048
    assert shape["stop"] == [FENCE_STOP, *BODY_STOPS]


def test_an_edit_reply_is_bounded_by_the_file_it_edits() -> None:
    one = {"calc.py": "def add(a, b):\n    return a - b\n" * 20}
    big = {"calc.py": one["calc.py"] * 10}
    shape = edit_reply(one)
    assert shape["stop"] == [FENCE_STOP]  # one file: one fenced block is enough
    assert shape["max_tokens"] < edit_reply(big)["max_tokens"] <= 2048
    assert edit_reply({"a.py": "x = 1\n", "b.py": "y = 2\n"})["stop"] == []


# --- the schema-constrained plan -----------------------------------------------------------


def test_the_plan_request_carries_the_plan_schema_and_its_reply_parses() -> None:
    reqs = extract_requirements(TESTS)
    with FakeOpenAI([Reply(text=PLAN_JSON)]) as srv:
        model = _model(srv)
        ask, _ = _caller(model)
        plan, source = make_plan(ask, SPEC_MORE, reqs, has_tests=True)
        [request] = srv.chat_requests
    assert (source, [f.path for f in plan.files]) == ("model", ["calc.py"])
    assert request.body["stop"] == [FENCE_STOP] and request.body["max_tokens"] <= 768
    wanted = _schema_of(request)
    assert wanted["type"] == "json_schema" and wanted["json_schema"]["strict"] is True
    schema = wanted["json_schema"]["schema"]
    assert wanted["json_schema"]["name"] == "Plan"
    assert schema["properties"]["test_files"]["maxItems"] == 0  # acceptance tests exist
    assert schema["required"] == ["files", "test_command", "packages", "test_files"]
    assert (model.schema_format, model.schema_known) == ("json_schema", True)


def test_a_refused_schema_falls_back_to_parsing_and_is_not_sent_again() -> None:
    def server(request: Request) -> Reply:
        if _schema_of(request) is not None:
            return REFUSED
        return Reply(text=f"Sure! Here is the plan:\n```json\n{PLAN_JSON}\n```")

    reqs = extract_requirements(TESTS)
    with FakeOpenAI(server) as srv:
        model = _model(srv)
        ask, _ = _caller(model)
        first, source = make_plan(ask, SPEC_MORE, reqs, has_tests=True)
        make_plan(ask, SPEC_MORE, reqs, has_tests=True)
        sent = [(_schema_of(r) or {}).get("type") for r in srv.chat_requests]
    assert source == "model" and [f.path for f in first.files] == ["calc.py"]
    # json_schema refused, then llama-cpp-python's form, then none, for the rest of the run
    assert sent == ["json_schema", "json_object", None, None]
    assert (model.schema_format, model.schema_known) == (None, False)


# llama-cpp-python's server: a 500 quoting its validation error
LITERAL_ERROR = Reply(
    status=500,
    error="1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', "
    "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
)


def test_an_endpoint_that_takes_only_json_object_gets_the_schema_that_way() -> None:
    def server(request: Request) -> Reply:
        kind = (_schema_of(request) or {}).get("type")
        return LITERAL_ERROR if kind == "json_schema" else Reply(text=PLAN_JSON)

    with FakeOpenAI(server) as srv:
        model = _model(srv)
        model.complete([], json_schema=plan_schema(True))
        model.complete([], json_schema=plan_schema(True))
        sent = [_schema_of(r) for r in srv.chat_requests]
    assert [s["type"] for s in sent] == ["json_schema", "json_object", "json_object"]
    assert sent[1]["schema"] == plan_schema(True)
    assert model.schema_format == "json_object"  # and the 500 was not retried


def test_json_schema_off_never_sends_it_and_on_insists() -> None:
    with FakeOpenAI([Reply(text=PLAN_JSON), REFUSED]) as srv:
        schema = plan_schema(True)
        off = _model(srv, json_schema=False)
        off.complete([], json_schema=schema)
        with pytest.raises(ModelError, match="json_schema = false"):
            _model(srv, json_schema=True).complete([], json_schema=schema)
        sent = [_schema_of(r) is not None for r in srv.chat_requests]
    assert sent == [False, True]


def test_other_400s_are_not_taken_for_a_refused_schema() -> None:
    other = Reply(status=400, error="messages: field required")
    with FakeOpenAI([other]) as srv, pytest.raises(ModelError, match="field required"):
        _model(srv).complete([], json_schema=plan_schema(True))


# --- the plan not asked for ----------------------------------------------------------------


def test_no_plan_is_asked_when_the_tests_imply_it_and_the_trajectory_says_why() -> None:
    reqs = extract_requirements(TESTS)
    with FakeOpenAI([]) as srv:
        ask, events = _caller(_model(srv))
        plan, source = make_plan(ask, SPEC, reqs, has_tests=True)
        asked = len(srv.chat_requests)
    assert (asked, source) == (0, "tests")
    assert [(f.path, f.interface) for f in plan.files] == [("calc.py", ["def add(a, b)"])]
    [skipped] = events.named("plan_skipped")
    assert isinstance(skipped, PlanSkipped)
    assert "calc.py (add)" in skipped.reason and "no other file" in skipped.reason


@pytest.mark.parametrize(
    ("spec", "has_tests"),
    [
        (SPEC_MORE, True),
        (SPEC + "\n```python\nimport helpers\n```\n", True),
        (SPEC + "\n```python\nimport numpy as np\n```\n", True),
        (SPEC, False),
    ],
    ids=["names-another-file", "imports-a-local-module", "needs-a-package", "no-tests"],
)
def test_the_plan_is_asked_when_the_spec_names_more(spec: str, has_tests: bool) -> None:
    reqs = extract_requirements(TESTS if has_tests else {})
    with FakeOpenAI([Reply(text=PLAN_JSON)]) as srv:
        ask, events = _caller(_model(srv))
        _, source = make_plan(ask, spec, reqs, has_tests=has_tests)
        asked = len(srv.chat_requests)
    assert (asked, source) == (1, "model")
    assert not events.named("plan_skipped")


def test_a_plain_500_with_a_schema_is_retried_with_the_schema() -> None:
    with FakeOpenAI([Reply.server_error(), Reply(text=PLAN_JSON)]) as srv:
        model = _model(srv, max_retries=1)
        assert model.complete([], json_schema=plan_schema(True)).text == PLAN_JSON
        sent = [(_schema_of(r) or {}).get("type") for r in srv.chat_requests]
    assert sent == ["json_schema", "json_schema"] and model.schema_format == "json_schema"
