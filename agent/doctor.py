"""`greenloop doctor`: check each real part and name the command that fixes it.

A part that fails with one of our errors shows that error's own `fix`: the advice is
written once, where the error is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.errors import GreenloopError, ImageMissing
from sandbox.image import IMAGE_REPO, docker_client, image_tag, require_image

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    """One part of the set-up: fine or not, what was seen, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _engine() -> tuple[Check, Any]:
    try:
        client = docker_client()
    except GreenloopError as exc:
        return Check("docker engine", False, exc.message, exc.fix), None
    version = client.version().get("Version", "?")
    return Check("docker engine", True, f"answers, version {version}"), client


def _image(client: Any) -> Check:
    if client is None:
        return Check("sandbox image", False, "no engine to ask", "start the Docker engine first")
    tag = image_tag()
    try:
        require_image(client, tag)
    except ImageMissing as exc:
        older = [t for img in client.images.list(name=IMAGE_REPO) for t in img.tags]
        detail = f"{tag} is not built" + (f" (older: {', '.join(older)})" if older else "")
        return Check("sandbox image", False, detail, exc.fix)
    return Check("sandbox image", True, f"{tag} is present and current")


def run_checks(model_check: Callable[[], tuple[bool, str, str]] | None = None) -> list[Check]:
    """Engine, image and (when given) model; each check says what fixes it."""
    engine, client = _engine()
    checks = [engine, _image(client)]
    if model_check is not None:
        ok, detail, fix = model_check()
        checks.append(Check("model", ok, detail, fix))
    return checks
