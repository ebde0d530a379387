"""`gladtui web` in its own process, as a reviewer runs it, for the web tests.

`WebServer` starts the installed command with `--no-browser --log-level info`,
reads the address it prints, and speaks plain HTTP (http.client) to it: the
token trade, then requests with the session cookie and the headers a test sets.
Its stderr (the log) goes to a file that the tests read for secrets.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.apidaemon import GLADTUI

ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebServer:
    def __init__(self, *args: str, log: Path, env: dict[str, str] | None = None) -> None:
        """`args`: what goes before `web` (`--config FILE`, `--ssh HOST`)."""
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [str(GLADTUI), *args, "web", "--no-browser", "--log-level", "info"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else dict(os.environ),
        )
        assert self.process.stdout is not None
        self.printed = b""
        while not ADDRESS.search(self.printed.decode()):
            line = self.process.stdout.readline()
            assert line, f"gladtui web printed no address: {self.printed!r}, log:\n{self.log()}"
            self.printed += line
        found = ADDRESS.search(self.printed.decode())
        assert found is not None
        self.address = found.group(0)
        self.port, self.token = int(found.group(1)), found.group(2)
        self.host = f"127.0.0.1:{self.port}"
        self.origin = f"http://{self.host}"
        self.cookie = ""

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        cookie: bool = True,
    ) -> Answer:
        """One request as a browser tab of the page sends it (Host, and Origin on a
        change), unless `headers` say otherwise; with the session cookie if `cookie`."""
        sent = {"Host": self.host}
        if method not in ("GET", "HEAD"):
            sent["Origin"] = self.origin
        if cookie and self.cookie:
            sent["Cookie"] = self.cookie
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if isinstance(body, dict):
            sent["Content-Type"] = "application/json"
        if data is not None:
            sent["Content-Length"] = str(len(data))
        sent.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in sent.items():
                connection.putheader(name, value)
            connection.endheaders(data)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def sign_in(self) -> Answer:
        """Open the printed address: the token for the cookie."""
        split = urlsplit(self.address)
        answer = self.request("GET", f"{split.path}?{split.query}", cookie=False)
        set_cookie = answer.headers.get("Set-Cookie", "")
        self.cookie = set_cookie.split(";", 1)[0]
        return answer

    def stop(self) -> int:
        """Ctrl-C, as the reviewer stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.printed += self.process.stdout.read()
        self.process.stdout.close()
        self._log.close()
        return code
