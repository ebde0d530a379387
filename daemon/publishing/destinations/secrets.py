"""The secrets of the posts destinations, found without importing their clients.

The posts database's DSN (`GLADTUI_POSTS_DSN`) may carry a password, in URL
form (`postgresql://user:PASSWORD@host/db`) or as `password=PASSWORD`; libpq
repeats a malformed DSN in its error messages. So the DSN and its password
are taken out of every message gladtui writes (logsetup redacts them from the
log; the postgres destination from its errors). Parsing here is deliberately
forgiving: a DSN too broken to parse still has its likely password found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

DSN_ENV = "GLADTUI_POSTS_DSN"
WEBHOOK_SECRET_ENV = "GLADTUI_WEBHOOK_SECRET"
WORDPRESS_PASSWORD_ENV = "GLADTUI_WORDPRESS_PASSWORD"  # the user's Application Password
# Environment variables whose whole value is a secret.
SECRET_ENV = (DSN_ENV, "PGPASSWORD", WEBHOOK_SECRET_ENV, WORDPRESS_PASSWORD_ENV)
REDACTED = "***"

_KEY_VALUE_PASSWORD = re.compile(r"""password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)""", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[a-z]+://[^:/@?#]*:(?P<password>[^@]*)@", re.IGNORECASE)


def dsn_secrets(dsn: str) -> list[str]:
    """The DSN itself and every form of its password in it (raw and unquoted)."""
    if not dsn:
        return []
    found = [dsn]
    match = _URL_PASSWORD.match(dsn)
    if match and match.group("password"):
        found += [match.group("password"), unquote(match.group("password"))]
    for value in _KEY_VALUE_PASSWORD.findall(dsn):
        found.append(value)
        if value.startswith("'") and value.endswith("'") and len(value) >= 2:
            found.append(re.sub(r"\\(.)", r"\1", value[1:-1]))
    query = urlsplit(dsn).query if "://" in dsn else ""
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key.lower() == "password" and value:
            found += [value, unquote(value)]
    return [secret for secret in dict.fromkeys(found) if secret]


def env_secrets(env: Mapping[str, str]) -> list[str]:
    """What the destinations' environment holds that must never be shown."""
    found: list[str] = []
    for key in SECRET_ENV:
        value = env.get(key)
        if value:
            found.append(value)
            if key == DSN_ENV:
                found += dsn_secrets(value)
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced, longest first (a secret may contain another)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
