"""The doctor shows each error's own fix, written once where the error is raised."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from agent.doctor import _image
from agent.errors import ImageMissing
from sandbox.image import require_image


class _Image:
    def __init__(self, tag: str) -> None:
        self.tags = [tag]


class _Images:
    """An engine's images with no current sandbox image, only an older one."""

    def get(self, tag: str) -> Any:
        raise docker.errors.ImageNotFound(f"no such image: {tag}")

    def list(self, name: str) -> list[_Image]:
        return [_Image(f"{name}:older")]


class _Client:
    images = _Images()


def test_a_missing_image_shows_the_errors_own_fix() -> None:
    with pytest.raises(ImageMissing) as info:
        require_image(_Client())
    check = _image(_Client())
    assert not check.ok and check.fix == info.value.fix
    assert "is not built" in check.detail and ":older" in check.detail


def test_another_languages_image_is_shown_with_its_fix_but_not_needed() -> None:
    from sandbox.toolchains import toolchain

    check = _image(_Client(), toolchain("javascript").image)
    assert check.name == "javascript image" and not check.ok and not check.needed
    assert "greenloop sandbox build --toolchain javascript" in check.fix
    assert _image(_Client()).needed
