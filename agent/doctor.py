"""`greenloop doctor`: check each real part and name the command that fixes it.

A part that fails with one of our errors shows that error's own `fix`: the advice is
written once, where the error is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.errors import GreenloopError, ImageMissing
from sandbox.image import PYTHON_IMAGE, ImageSpec, docker_client, image_tag, require_image
from sandbox.toolchains import NAMES, toolchain

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    """One part of the set-up: fine or not, what was seen, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True
    """False for a part only some work needs (another language's image): missing, it is
    shown with its fix, and greenloop still works."""


def _engine() -> tuple[Check, Any]:
    try:
        client = docker_client()
    except GreenloopError as exc:
        return Check("docker engine", False, exc.message, exc.fix), None
    version = client.version().get("Version", "?")
    return Check("docker engine", True, f"answers, version {version}"), client


def _image(client: Any, spec: ImageSpec = PYTHON_IMAGE) -> Check:
    """The toolchain's image: Python's is needed, the others only for their languages."""
    name = "sandbox image" if spec is PYTHON_IMAGE else f"{spec.toolchain} image"
    needed = spec is PYTHON_IMAGE
    if client is None:
        return Check(name, False, "no engine to ask", "start the Docker engine first", needed)
    tag = image_tag(spec=spec)
    try:
        require_image(client, tag, spec)
    except ImageMissing as exc:
        older = [t for img in client.images.list(name=spec.repo) for t in img.tags]
        detail = f"{tag} is not built" + (f" (older: {', '.join(older)})" if older else "")
        return Check(name, False, detail, exc.fix, needed)
    return Check(name, True, f"{tag} is present and current", needed=needed)


def run_checks(model_check: Callable[[], tuple[bool, str, str]] | None = None) -> list[Check]:
    """Engine, each toolchain's image and (when given) model; each says what fixes it."""
    engine, client = _engine()
    images = [toolchain(name).image for name in NAMES]
    checks = [engine, *(_image(client, spec) for spec in images)]
    if model_check is not None:
        ok, detail, fix = model_check()
        checks.append(Check("model", ok, detail, fix))
    return checks
