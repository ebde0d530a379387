"""A WordPress site's REST API, as the WordPress destination and publisher use it.

The REST root is found as WordPress advertises it, in the `Link: <…>;
rel="https://api.w.org/"` header of the site's pages: `/wp-json/` with pretty
permalinks, `/?rest_route=/` without. Requests use HTTP Basic with the user's
Application Password (WordPress accepts it over HTTPS, or over plain HTTP
when the site's environment type is `local`).

Queries are sent as `POST` with `X-HTTP-Method-Override: GET` and a JSON
body: a page of 100 slugs and their `-2`, `-3` … would not fit in a URL some
servers accept, and WordPress reads a JSON body's parameters for any method.

Errors become `WordPressError`, whose message says what to do and never
carries the password: 401 (the password), 403 (the capability `need` names),
413 and an upload WordPress received empty (the site's size limit), 408, 429,
5xx and network trouble (retryable); anything else is permanent.
"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from daemon.publishing.destinations.secrets import WORDPRESS_PASSWORD_ENV, redact
from gladtui import __version__

API_REL = "https://api.w.org/"
MAX_ANSWER_BYTES = 8 << 20  # a page of 100 posts in `edit` context stays well below
EXCERPT_CHARS = 200
_RETRYABLE_STATUSES = {408, 425, 429}
_LINK = re.compile(r"<([^>]*)>\s*;[^,]*rel=\"?" + re.escape(API_REL) + '"?')
_TAG = re.compile(r"<[^>]+>")

# What a 403 means, by the capability the call needs: said in the error.
CAPABILITY_HINTS = {
    "upload_files": "give the user the Author role or above (Contributors may not upload)",
    "publish_posts": "give the user the Author role or above, or set "
    "publishing.posts.wordpress.status to draft or pending",
    "edit_posts": "give the user the Contributor role or above",
    "edit_others_posts": "give the user the Editor role or above (on_duplicate_slug: update "
    "changes posts of other users)",
    "manage_categories": "create the category or tag in WordPress, or give the user the "
    "Editor role or above",
    "delete_posts": "give the user the Author role or above",
}


class WordPressError(Exception):
    """A request failed; `retryable` when trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any  # the decoded JSON (a dict or a list)


class WordPressSite:
    """One site, one user. Thread-safe: no state but the REST root, found once."""

    def __init__(self, url: str, user: str, password: str, *, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.user = user
        self.timeout = timeout
        self._password = password
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"
        self._root: str | None = None

    @property
    def host(self) -> str:
        """The site in words: scheme, host and path, never credentials."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"

    def root(self) -> str:
        """The REST root the site advertises (found once, by one HEAD or GET of the site)."""
        if self._root is None:
            self._root = self._discover()
        return self._root

    def route_url(self, route: str, query: Mapping[str, str] | None = None) -> str:
        """The URL of `route` (`/wp/v2/posts`) under the REST root, whatever its form."""
        parts = urlsplit(self.root())
        params = parse_qsl(parts.query, keep_blank_values=True)
        if any(key == "rest_route" for key, _ in params):
            params = [
                (key, value.rstrip("/") + route if key == "rest_route" else value)
                for key, value in params
            ]
            path = parts.path
        else:
            path = parts.path.rstrip("/") + route
        params += list((query or {}).items())
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(params), ""))

    def get(
        self,
        route: str,
        params: Mapping[str, Any],
        *,
        need: str,
        query: Mapping[str, str] | None = None,
    ) -> Answer:
        """A read, its parameters in a JSON body (see the module's docstring); `query`:
        those WordPress reads from the URL only (`_embed`)."""
        return self.call(
            "POST",
            route,
            body=params,
            query=query,
            headers={"X-HTTP-Method-Override": "GET"},
            need=need,
        )

    def call(
        self,
        method: str,
        route: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        need: str,
    ) -> Answer:
        """One request; WordPressError for anything but 2xx. `need`: the capability a 403
        lacks, named in the error."""
        sent = {"Authorization": self._auth, "User-Agent": f"gladtui/{__version__}"}
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        request = urllib.request.Request(
            self.route_url(route, query), data=data, method=method, headers=sent
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(MAX_ANSWER_BYTES)
                return Answer(int(response.status), response.headers, _json(raw))
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read(MAX_ANSWER_BYTES)
            raise self._refusal(exc.code, _json(raw), raw, need, sent=len(data or b"")) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
            raise self._unreachable(exc) from None

    def download(self, url: str) -> bytes:
        """A file the site serves (an attachment's bytes), for checking an earlier upload."""
        request = urllib.request.Request(url, headers={"User-Agent": f"gladtui/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            exc.close()
            raise WordPressError(
                f"WordPress at {self.host}: {url} answered {exc.code}; trying again later",
                retryable=True,
                status=exc.code,
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self._unreachable(exc) from None

    def _discover(self) -> str:
        """HEAD the site (WordPress answers a HEAD before rendering), GET if that fails."""
        for method in ("HEAD", "GET"):
            request = urllib.request.Request(
                self.url + "/", method=method, headers={"User-Agent": f"gladtui/{__version__}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    links = response.headers.get_all("Link") or []
            except urllib.error.HTTPError as exc:
                links = exc.headers.get_all("Link") or []
                exc.close()
            except (urllib.error.URLError, OSError) as exc:
                raise self._unreachable(exc) from None
            for link in links:
                match = _LINK.search(link)
                if match:
                    return match.group(1)
        raise WordPressError(
            f"{self.host} does not advertise a WordPress REST API (no Link header with "
            f'rel="{API_REL}"): check publishing.posts.wordpress.url is the site\'s address, '
            "and that no plugin disables the REST API",
            retryable=False,
        )

    def _unreachable(self, exc: BaseException) -> WordPressError:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return WordPressError(
            f"cannot reach WordPress at {self.host}: {self._clean(str(reason))}; trying again "
            "later",
            retryable=True,
        )

    def _refusal(
        self, status: int, answer: Any, raw: bytes, need: str, *, sent: int
    ) -> WordPressError:
        said = _said(answer, raw)
        where = f"WordPress at {self.host}"
        if status == 401:
            text = (
                f"{where} refused user {self.user!r} (401: {said}): set {WORDPRESS_PASSWORD_ENV} "
                "to an Application Password of that user (Users → Profile → Application "
                "Passwords), not the login password; over plain http the site's environment "
                "type must be local"
            )
        elif status == 403:
            hint = CAPABILITY_HINTS.get(need, "check the user's role")
            text = f"{where}: user {self.user!r} lacks the {need} capability (403: {said}): {hint}"
        elif status == 413 or _empty_upload(answer, sent):
            text = (
                f"{where} refused the image ({sent:,} bytes) as too large ({status}: {said}): "
                "raise the site's upload limit (PHP upload_max_filesize and post_max_size, "
                "the web server's body limit, e.g. nginx client_max_body_size); WordPress "
                "shows its limit under Media → Add New"
            )
        else:
            retryable = status >= 500 or status in _RETRYABLE_STATUSES
            then = "trying again later" if retryable else "nothing is retried"
            text = f"{where} answered {status}: {said}; {then}"
            return WordPressError(self._clean(text), retryable=retryable, status=status)
        return WordPressError(self._clean(text), retryable=False, status=status)

    def _clean(self, text: str) -> str:
        return redact(text, [self._password, self._auth])


def media_slug(name: str) -> str:
    """The slug WordPress's `sanitize_title` makes of a file name's stem such as an asset id
    (letters, digits, `.`, `-` and `_`): lower case, dots as dashes, runs of dashes as one."""
    return re.sub(r"-+", "-", name.lower().replace(".", "-")).strip("-")


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data.strip() else {}
    except ValueError:
        return {}


def _said(answer: Any, raw: bytes) -> str:
    """What WordPress said: its error's message and code, else the start of the body."""
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        message = html.unescape(_TAG.sub("", answer["message"])).strip()
        return f"{message} [{answer.get('code', '')}]"
    text = " ".join(_TAG.sub(" ", raw.decode("utf-8", errors="replace")).split())
    return (text[:EXCERPT_CHARS] + "…") if len(text) > EXCERPT_CHARS else (text or "(no body)")


def _empty_upload(answer: Any, sent: int) -> bool:
    """PHP drops a body over post_max_size: WordPress then says it got no data."""
    return sent > 0 and isinstance(answer, dict) and answer.get("code") == "rest_upload_no_data"
