"""Numbers and flags from an API request's path and query, parsed one strict way.

A number is ASCII digits and nothing else: `int()` also takes " 1 ", "+1",
"1_000" and other scripts' digits ("١"), and `str.isdigit()` takes "²",
which `int()` then refuses (a ValueError that became a 500). Every route
parses through `whole_number`, so each refuses the same things with the
same 422 wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiohttp import web

from daemon.review.outcomes import InvalidRequest
from gladtui.taskcheck import one_line

MAX_INDEX = 1_000_000  # the highest variation index a route accepts
_DIGITS = re.compile(r"[0-9]{1,19}")  # 19 digits: every value below 2**63 fits
_SIGNED = re.compile(r"-?[0-9]+")


def whole_number(name: str, raw: str, low: int, high: int) -> int:
    """`raw` as a number in low..high, or InvalidRequest naming `name`."""
    if _DIGITS.fullmatch(raw) is None:
        if _SIGNED.fullmatch(raw) is not None:  # a number, just not in range: -1, 10**30
            shown = raw if len(raw) <= 20 else "a number too large to show"
            raise InvalidRequest(f"{name}: must be between {low} and {high}, got {shown}")
        shown = one_line(repr(raw), 40)
        raise InvalidRequest(f"{name}: expected a whole number (digits 0-9 only), got {shown}")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidRequest(f"{name}: must be between {low} and {high}, got {value}")
    return value


def optional_number(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A query parameter that may be left out for `default` (`name=` with no digits is a 422)."""
    raw = query.get(name)
    return default if raw is None else whole_number(name, raw, low, high)


def flag(query: Mapping[str, str], name: str) -> bool:
    """true or 1, false or 0; left out is false."""
    raw = query.get(name)
    if raw is None or raw in ("0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise InvalidRequest(f"{name}: expected true or false, got {one_line(repr(raw), 40)}")


def variation_target(request: web.Request) -> tuple[str, int]:
    """The task id and variation index of a `/api/tasks/{task_id}/variations/{index}/…` route."""
    index = whole_number("variation", request.match_info["index"], 1, MAX_INDEX)
    return request.match_info["task_id"], index
