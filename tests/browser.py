"""A real browser for the web tests: Debian's Chromium driven by Playwright.

Playwright's own browser download is not available here: it drives the
system's /usr/bin/chromium (.ci/run installs it), headless, with a profile
under the test's temp folder. As root Chromium needs --no-sandbox.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def why_no_browser() -> str | None:
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def chromium(profile: Path, scale: float = 1.0) -> Iterator[object]:
    """A browser context (playwright's BrowserContext) with one page open."""
    reason = why_no_browser()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    args = ["--force-color-profile=srgb", "--disable-gpu"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=args,
            device_scale_factor=scale,
            viewport={"width": 1200, "height": 800},
        )
        try:
            yield context
        finally:
            context.close()
