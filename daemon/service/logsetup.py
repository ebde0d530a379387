"""The daemon's log: one line per event on stderr, fit for a terminal and for journald.

- One record is one line. journald makes every line of a stream its own entry,
  so a traceback would arrive as twenty unrelated messages: an exception is
  summarised on the record's line (its type, text and where it was raised),
  and its full traceback is added, folded onto that line, only at debug level.
- Under journald ($JOURNAL_STREAM is set) each line starts with its syslog
  priority (`<3>` for errors), which journald turns into the entry's priority,
  so `journalctl -p warning` works; journald adds its own timestamps.
- Secrets from the configuration are replaced by `***` in every line,
  whichever library wrote it.
- transformers' and diffusers' own logs come here in this format, their
  noise dropped (daemon/generation/librarylogs.py says which and why).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable, Mapping
from typing import TextIO

from daemon.generation.librarylogs import is_library_noise
from daemon.publishing.destinations.secrets import env_secrets
from gladtui.config import Config

REDACTED = "***"
# logging's levels as syslog priorities (sd-daemon(3) prefixes).
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
# Libraries whose own INFO lines repeat what ours say, or say nothing to an operator.
_QUIET = (
    "watchfiles",
    "urllib3",
    "cloudinary",
    "aiohttp.access",
    "botocore",
    "boto3",
    "s3transfer",
)


class OneLineFormatter(logging.Formatter):
    def __init__(self, *, journald: bool, secrets: Iterable[str], tracebacks: bool) -> None:
        fmt = "%(levelname)s %(name)s: %(message)s"
        super().__init__(fmt if journald else "%(asctime)s " + fmt)
        self._journald = journald
        # Longest first: a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        exc_info, record.exc_info, record.exc_text = record.exc_info, None, None
        try:
            line = super().format(record)
        finally:
            record.exc_info = exc_info
        if exc_info and exc_info[1] is not None:
            line += " " + self._describe(exc_info[1])
        line = " | ".join(part for part in line.splitlines() if part.strip())
        for secret in self._secrets:
            line = line.replace(secret, REDACTED)
        if self._journald:
            line = f"<{_priority(record.levelno)}>{line}"
        return line

    def _describe(self, exc: BaseException) -> str:
        text = f"[{type(exc).__name__}: {exc}]" if str(exc) else f"[{type(exc).__name__}]"
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            text += f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
        if self._tracebacks:
            text += " | " + "".join(traceback.format_exception(exc)).strip()
        return text


def _priority(levelno: int) -> int:
    for threshold in sorted(_PRIORITY, reverse=True):
        if levelno >= threshold:
            return _PRIORITY[threshold]
    return _PRIORITY[logging.DEBUG]


def secrets_of(config: Config, env: Mapping[str, str]) -> list[str]:
    """What must never appear in a log: credentials, whole and in parts."""
    found: list[str] = []
    url = config.cloudinary_url()
    if url:
        found.append(url)
        secret = url.partition("://")[2].partition("@")[0].partition(":")[2]
        found.append(secret)
    found += [value for key, value in env.items() if key in _SECRET_ENV and value]
    found += env_secrets(env)  # the posts database's DSN and its password, the webhook's secret
    return found


_SECRET_ENV = ("CLOUDINARY_URL", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def configure_logging(
    level: str,
    *,
    env: Mapping[str, str],
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send every log record, ours and the libraries', to stderr as single lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(lambda record: not is_library_noise(record))
    handler.setFormatter(
        OneLineFormatter(
            journald="JOURNAL_STREAM" in env,
            secrets=secrets,
            tracebacks=level.lower() == "debug",
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings.warn from libraries: one line, level WARNING
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
