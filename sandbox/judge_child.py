"""The judged process: pytest, its report caught, watched from inside. A program, not a module.

`sandbox.judge_parent` starts it as `python3 -s -P -c <this source>` in the
workspace and sends its settings on stdin (JSON: the nonce, the pipe to
report on, pytest's arguments, the files the model wrote), then closes it.
Nothing about the run is in its argv or environment. Before any workspace
code is imported it:

- installs a runtime audit hook (PEP 578) that reports, at once and for
  good, the moves a forgery needs and ordinary code does not, when the
  files the model wrote make them: reaching frames or the heap, `ctypes`,
  tracing, another audit hook, `/proc` or `/dev/fd`, replacing code in
  pytest or pluggy, opening pytest's report other than as pytest does;
- makes itself non-dumpable, so that other processes of the sandbox user
  cannot open its `/proc/<pid>/fd` or memory;
- turns pytest's plugin autoload off and loads by name only the plugins
  installed outside the workspace; puts the workspace on `sys.path` only
  after pytest is imported (`-s -P`: no user site at start, no script
  folder; a setup step's user site, outside the workspace, is added by name).

pytest writes its JUnit XML to a pipe of this process's own. A plugin of
the judge notes what pytest's own modules and registered plugins are at the
start and checks them again after collection and at the end. Right after
`pytest.main` returns, the report goes to the parent as one line and the
process ends with `os._exit` (no `atexit`, no finalizers run after it).
"""

import contextlib
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

Hit = Callable[[str], None]


def main() -> None:
    import base64
    import json
    import os
    import threading

    settings = json.loads(sys.stdin.buffer.read(4 << 20) or b"{}")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out_fd, nonce = int(settings["fd"]), str(settings["nonce"])
    os.set_inheritable(out_fd, False)
    root = os.getcwd()
    watched = frozenset(os.path.join(root, p) for p in settings.get("watch", ()))
    sent: set[str] = set()

    def send(kind: str, **fields: object) -> None:
        line = json.dumps({"nonce": nonce, "kind": kind, **fields}).encode() + b"\n"
        while line:
            line = line[os.write(out_fd, line) :]

    def hit(why: str) -> None:
        if why not in sent and len(sent) < 20:
            sent.add(why)
            send("hit", why=why)

    junit_r, junit_w = os.pipe()
    junit_path = f"/dev/fd/{junit_w}"
    junit_id = _identity(junit_w)
    sys.addaudithook(_audit_hook(root, watched, junit_path, junit_w, junit_id, hit))
    _undumpable()

    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    _user_site()
    plugin_args = _trusted_plugins(root)
    import pytest

    sys.dont_write_bytecode = True
    sys.path.insert(0, root)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            chunk = os.read(junit_r, 1 << 16)
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    judge = _JudgePlugin(watched, hit, dict(settings.get("hashes") or {}))
    args = [*plugin_args, *settings.get("args", ()), f"--junitxml={junit_path}"]
    try:
        rc = int(pytest.main(args, plugins=[judge]))
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    os.close(junit_w)
    reader.join(2.0)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    junit = b"".join(chunks)
    send("report", rc=rc, junit=base64.b64encode(junit).decode() if junit else None)
    os._exit(rc)


def _identity(fd: int) -> tuple[int, int]:
    import os

    stat = os.fstat(fd)
    return stat.st_dev, stat.st_ino


def _undumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): /proc/<pid>/fd, mem and environ become root's."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


_JUDGE_MODULES = ("pytest", "_pytest", "pluggy", "py", "iniconfig")
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
_FRAME_GIVERS = frozenset(
    {"currentframe", "stack", "trace", "getouterframes", "getinnerframes", "walk_tb", "walk_stack"}
)
_WATCHED_ANYWHERE = frozenset(
    ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.settrace", "sys.setprofile",
     "sys.addaudithook", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.addressof",
     "ctypes.string_at", "ctypes.call_function")
)  # fmt: skip


def _audit_hook(
    root: str,
    watched: frozenset[str],
    junit_path: str,
    junit_fd: int,
    junit_id: tuple[int, int],
    hit: Hit,
) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook: a closure that nothing else holds (unreachable but through the heap)."""
    import os

    getframe = sys._getframe
    stdlib = os.path.dirname(os.__file__) + os.sep
    busy = [False]

    def in_stdlib(filename: str) -> bool:
        if filename.startswith("<frozen"):
            return True
        return filename.startswith(stdlib) and "-packages" + os.sep not in filename

    def first_outside(frame: FrameType | None) -> tuple[FrameType | None, FrameType | None]:
        """The first frame not in the standard library, and the stdlib frame it called."""
        entry = None
        while frame is not None and in_stdlib(frame.f_code.co_filename):
            entry, frame = frame, frame.f_back
        return frame, entry

    def where(frame: FrameType) -> str:
        return f"{os.path.relpath(frame.f_code.co_filename, root)}:{frame.f_lineno}"

    def gives_frames(caller: FrameType) -> str:
        """Where watched code took a frame, directly or from a stdlib function that returns one."""
        if caller.f_code.co_filename in watched:
            return where(caller)
        if not in_stdlib(caller.f_code.co_filename):
            return ""
        outside, entry = first_outside(caller)
        given = entry is not None and entry.f_code.co_name in _FRAME_GIVERS
        if outside is not None and outside.f_code.co_filename in watched and given:
            return where(outside)
        return ""

    def by_watched(caller: FrameType) -> str:
        outside, _ = first_outside(caller)
        if outside is not None and outside.f_code.co_filename in watched:
            return where(outside)
        return ""

    def check(event: str, args: tuple[Any, ...]) -> None:
        caller = getframe(2)
        if event in ("sys._getframe", "sys._current_frames") or event == "object.__getattr__":
            at = gives_frames(caller)
            if at:
                hit(f"runtime audit: {at} reached the interpreter's frames ({event})")
        elif event in _WATCHED_ANYWHERE:
            at = by_watched(caller)
            if at:
                hit(f"runtime audit: {at} made a move only a forgery needs ({event})")
        elif event == "object.__setattr__":
            module = getattr(args[0], "__module__", None) or ""
            if str(module).split(".")[0] in _JUDGE_MODULES:
                hit(f"runtime audit: code of the test runner was replaced ({module}.{args[1]})")
        else:
            path = os.fsdecode(args[0]) if isinstance(args[0], str | bytes) else ""
            if path == junit_path:
                outside, _ = first_outside(caller)
                name = outside.f_code.co_filename if outside is not None else ""
                if not name.endswith(os.sep + "junitxml.py") or _identity(junit_fd) != junit_id:
                    hit("runtime audit: pytest's report was opened or re-pointed by other code")
            elif path.startswith(("/proc/", "/dev/fd")):
                at = by_watched(caller)
                if at:
                    hit(f"runtime audit: {at} opened {path} ({event})")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if busy[0]:
            return
        if event == "object.__getattr__":
            if args[1] not in _FRAME_ATTRS:
                return
        elif event in ("open", "os.listdir", "os.scandir"):
            path = args[0]
            if not isinstance(path, str | bytes) or not os.fsdecode(path).startswith(
                ("/proc/", "/dev/fd")
            ):
                return
        elif event == "object.__setattr__":
            if args[1] != "__code__":
                return
        elif event not in _WATCHED_ANYWHERE and event not in (
            "sys._getframe",
            "sys._current_frames",
        ):
            return
        busy[0] = True
        try:
            check(event, args)
        except Exception:  # the hook must never break the code it watches
            pass
        finally:
            busy[0] = False

    return hook


def _user_site() -> None:
    """What a setup step installed (`PYTHONUSERBASE`, outside the workspace): `-s` leaves
    the user site out at start, so it is added here, by name, before pytest imports."""
    import os
    import site

    if os.environ.get("PYTHONUSERBASE"):
        site.addsitedir(site.getusersitepackages())


def _trusted_plugins(root: str) -> list[str]:
    """`-p module` for each pytest plugin installed outside the workspace (autoload is off).

    Read straight from each `*.dist-info`/`*.egg-info` folder's `entry_points.txt` on
    `sys.path` (importlib.metadata costs a run 20 ms more); `[pytest11]` entries that
    name an object inside a module (`module:attr`) are left out.
    """
    import os

    args: list[str] = []
    for folder in dict.fromkeys(p for p in sys.path if p):
        real = os.path.realpath(folder)
        if real == root or real.startswith(root + os.sep) or not os.path.isdir(folder):
            continue
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError):
                continue
            for module in _pytest11(text):
                if module not in args:
                    args += ["-p", module]
    return args


def _pytest11(text: str) -> list[str]:
    """The modules an `entry_points.txt` registers in its `[pytest11]` group."""
    modules: list[str] = []
    inside = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            inside = line == "[pytest11]"
        elif inside and "=" in line and not line.startswith(("#", ";")):
            value = line.partition("=")[2].strip()
            if value and ":" not in value:
                modules.append(value)
    return modules


class _JudgePlugin:
    """Notes pytest's modules and plugins at the start; any change later is reported."""

    def __init__(self, watched: frozenset[str], hit: Hit, hashes: dict[str, str]) -> None:
        self.watched, self.hit, self.hashes = watched, hit, hashes
        self.code: list[_Entry] = []
        self.plugins: set[int] = set()
        self.manager: Any = None

    def pytest_sessionstart(self, session: Any) -> None:
        self.manager = session.config.pluginmanager
        self.plugins = {id(p) for p in self.manager.get_plugins()}
        self.code = _judge_code()

    def pytest_collection_finish(self, session: Any) -> None:
        self.check("after collection")

    def pytest_sessionfinish(self, session: Any) -> None:
        self.check("at the end of the session")

    def check(self, when: str) -> None:
        self._check_tests(when)
        for space, key, ident, label in self.code:
            if id(space.get(key)) != ident:
                self.hit(f"pytest's {label} was replaced while the tests ran ({when})")
                break
        if self.manager is None:
            return
        for plugin in self.manager.get_plugins():
            if id(plugin) not in self.plugins and not self._allowed(plugin):
                self.hit(f"a plugin registered itself with pytest ({when}): {type(plugin)!r}")
                break

    def _check_tests(self, when: str) -> None:
        """The test files are still what the judge wrote (code can rewrite files it runs
        beside: a test not yet imported, rewritten, would be collected as rewritten)."""
        import hashlib

        for path, digest in self.hashes.items():
            try:
                with open(path, "rb") as handle:
                    now = hashlib.sha256(handle.read()).hexdigest()
            except OSError:
                now = ""
            if now != digest:
                self.hit(f"the test file {path} was changed while the tests ran ({when})")
                return

    def _allowed(self, plugin: object) -> bool:
        """A module, or an object of a class its module names, from a file the model did
        not write (pytest's own, a conftest.py, the project's trusted files)."""
        import os
        import types

        module = plugin if isinstance(plugin, types.ModuleType) else None
        if module is None:
            cls = type(plugin)
            module = sys.modules.get(cls.__module__)
            if module is None or getattr(module, cls.__qualname__, None) is not cls:
                return False
        name = getattr(module, "__file__", None) or ""
        return bool(name) and os.path.abspath(name) not in self.watched


_Entry = tuple[Mapping[str, object], str, int, str]
"""(a module's or class's live namespace, a name in it, id() of its value, label)."""


def _judge_code() -> list[_Entry]:
    """Every function and class of pytest's and pluggy's modules and classes, noted so that
    a later check is a dictionary lookup each (the namespaces are live views)."""
    seen: list[_Entry] = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in _JUDGE_MODULES or module is None:
            continue
        space = vars(module)
        for key, value in list(space.items()):
            if isinstance(value, type) and value.__module__ == name:
                seen.append((space, key, id(value), f"{name}.{key}"))
                members = vars(value)
                for attr, member in list(members.items()):
                    if callable(member) or isinstance(member, classmethod | staticmethod):
                        seen.append((members, attr, id(member), f"{name}.{key}.{attr}"))
            elif callable(value) and getattr(value, "__module__", None) == name:
                seen.append((space, key, id(value), f"{name}.{key}"))
    return seen


if __name__ == "__main__":
    main()
