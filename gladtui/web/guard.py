"""Who may use the local review server: the reviewer's own browser tab, nobody else.

The server listens on 127.0.0.1, where every local user (and, through DNS
rebinding, any web page the reviewer visits) can reach it. So:

- the address printed carries a random token (192 bits); the first load trades
  it for an `HttpOnly; SameSite=Strict` cookie holding a second secret, and
  redirects to `/` so the token leaves the address bar and the history;
- every request needs that cookie, and a `Host` header that is exactly the
  address printed (a rebound name is refused, cookie or not);
- a request that changes anything (not GET or HEAD) must carry the page's own
  `Origin`;
- every answer carries a strict Content-Security-Policy: scripts, styles,
  images and connections from this origin only, no inline script.

A refusal is a bare 403 with the same body whatever the reason, so a caller
learns nothing about which check failed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

COOKIE = "gladtui_session"
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _secret() -> str:
    return secrets.token_urlsafe(24)  # 24 bytes: 192 bits


@dataclass
class Guard:
    """The secrets of one server run, and the host:port it answers as (set once bound)."""

    token: str = field(default_factory=_secret)
    session: str = field(default_factory=_secret)
    host: str = ""  # "127.0.0.1:PORT"

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    @property
    def address(self) -> str:
        """What the reviewer opens: the only place the token is ever written."""
        return f"{self.origin}/?token={self.token}"

    def admits(self, request: web.Request) -> bool:
        if request.headers.get("Host", "") != self.host:
            return False
        if request.method not in SAFE_METHODS and request.headers.get("Origin") != self.origin:
            return False
        return _same(request.cookies.get(COOKIE, ""), self.session)

    def trades_token(self, request: web.Request) -> bool:
        """Is this the first load, with the token in the address (and the right Host)?"""
        return (
            request.method == "GET"
            and request.path == "/"
            and request.headers.get("Host", "") == self.host
            and _same(request.query.get("token", ""), self.token)
        )

    def session_start(self) -> web.Response:
        """The token's answer: the cookie, and `/` again without the token."""
        response = web.Response(status=303, headers={"Location": "/", "Cache-Control": "no-store"})
        response.set_cookie(COOKIE, self.session, httponly=True, samesite="Strict", path="/")
        return response

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.trades_token(request):
            response: web.StreamResponse = self.session_start()
        elif self.admits(request):
            response = await handler(request)
        else:
            response = forbidden()
        return response


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, a stream's and a 404's too, gets the headers."""
    response.headers.update(SECURITY_HEADERS)


def forbidden() -> web.Response:
    """The same bare 403 for every refusal."""
    return web.Response(status=403, text="forbidden\n", headers=SECURITY_HEADERS)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
