"""Where the repository and the tests' own data are, wherever a test file sits under tests/."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
HARNESS = TESTS / "harness"  # scripts tests run as subprocesses
TASKFILES = TESTS / "taskfiles"  # good/ and hostile/ task files
CONFIGS = TESTS / "configs"  # good and bad config files
