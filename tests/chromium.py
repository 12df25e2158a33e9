"""Headless Chromium for the tests that open greenloop's HTML pages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCREENSHOTS_ENV = "GREENLOOP_SCREENSHOTS"
"""A folder to copy each screenshot into, for a person to look at."""


def require_chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed: apt-get install -y chromium (.ci/setup does)")
    return found


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=90)


def save_screenshot(
    browser: str, tmp: Path, page: Path, name: str, width: int = 1200, height: int = 900
) -> Path:
    """A PNG of `page`; also copied to $GREENLOOP_SCREENSHOTS when that is set."""
    shot = tmp / name
    grab = headless(
        browser,
        tmp / "profile",
        f"--screenshot={shot}",
        f"--window-size={width},{height}",
        page.as_uri(),
    )
    assert grab.returncode == 0, grab.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get(SCREENSHOTS_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / name)
    return shot
