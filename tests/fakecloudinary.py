"""A local server that speaks Cloudinary's upload API, for the real SDK to talk to.

`POST /v1_1/{cloud}/image/upload` with the SDK's multipart form: the
signature is checked as Cloudinary checks it (every signed field but `file`,
`api_key`, `resource_type` and `cloud_name`, sorted as `k=v` joined by `&`,
plus the secret, SHA-1 or SHA-256), assets are kept by full public id
(`folder/public_id`), and `overwrite=false` on an existing id answers with
the stored asset and `"existing": true`, as Cloudinary does.

Faults for the next uploads are queued with `fail`, `rate_limit`,
`stall_after_store` and `close_without_answer`; `go_down` and `come_back`
close and reopen the port (connection refused meanwhile, assets kept). Pass
`.prefix` as `upload_prefix` and `.url` as the credentials.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY, API_SECRET, CLOUD = "123456789", "s3cr3t-never-print-me", "demo-cloud"
_UNSIGNED = {"file", "api_key", "signature", "resource_type", "cloud_name"}


class FakeCloudinary:
    def __init__(self, api_key: str = API_KEY, api_secret: str = API_SECRET) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.assets: dict[str, bytes] = {}
        self.versions: dict[str, int] = {}
        self.upload_count = 0  # requests that reached the upload route
        self._faults: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self._server = self._listen(0)
        self._port = int(self._server.server_address[1])
        self._serving = False

    def _listen(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        server.daemon_threads = True
        return server

    @property
    def prefix(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"cloudinary://{self.api_key}:{self.api_secret}@{CLOUD}"

    def start(self) -> FakeCloudinary:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._serving = True
        return self

    def stop(self) -> None:
        if self._serving:  # shutdown() of a server that is not serving would block forever
            self._server.shutdown()
            self._serving = False
        self._server.server_close()

    def go_down(self) -> None:
        """Close the port: connections are refused (nothing listens) until `come_back`."""
        self.stop()

    def come_back(self) -> None:
        """Listen again on the same port, so the daemon's `upload_prefix` still points here."""
        self._server = self._listen(self._port)  # SO_REUSEADDR: TIME_WAIT does not block it
        self.start()

    def __enter__(self) -> FakeCloudinary:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- faults for the next uploads ----------------------------------------------------

    def fail(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        fault = (status, headers or {}, message or f"injected {status}")
        with self._lock:
            self._faults.extend([("fail", fault)] * times)

    def rate_limit(self, times: int = 1, retry_after: int = 1) -> None:
        """Refuse the next uploads as a throttled account: 429 with the rate-limit headers."""
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": "500",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + retry_after),
        }
        self.fail(429, times, headers, message="Rate Limit Exceeded")

    def stall_after_store(self, seconds: float) -> None:
        """Store the next asset, then wait before answering: the client times out."""
        with self._lock:
            self._faults.append(("stall", seconds))

    def let_through(self, times: int = 1) -> None:
        """The next uploads are answered as usual: a fault queued after them waits its turn."""
        with self._lock:
            self._faults.extend([("pass", None)] * times)

    def close_without_answer(self) -> None:
        with self._lock:
            self._faults.append(("close", None))

    def next_fault(self) -> tuple[str, Any] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # -- the upload itself ------------------------------------------------------------

    def signature_ok(self, fields: dict[str, str]) -> bool:
        signed = sorted(
            f"{k}={v}".replace("&", "%26") for k, v in fields.items() if k not in _UNSIGNED and v
        )
        text = "&".join(signed) + self.api_secret
        algorithm = (
            hashlib.sha256 if fields.get("signature_algorithm") == "sha256" else hashlib.sha1
        )
        return algorithm(text.encode()).hexdigest() == fields.get("signature")

    def store(self, fields: dict[str, str], data: bytes) -> tuple[int, dict[str, Any]]:
        public_id = fields.get("public_id") or hashlib.sha1(data).hexdigest()[:20]
        if fields.get("folder"):
            public_id = f"{fields['folder'].rstrip('/')}/{public_id}"
        with self._lock:
            existing = public_id in self.assets
            if not existing or fields.get("overwrite") in ("1", "true"):
                self.assets[public_id] = data
                self.versions[public_id] = int(time.time() * 1000)
                existing = False
            stored, version = self.assets[public_id], self.versions[public_id]
        body = {
            "public_id": public_id,
            "version": version,
            "resource_type": "image",
            "type": "upload",
            "format": "png",
            "bytes": len(stored),
            "etag": hashlib.md5(stored, usedforsecurity=False).hexdigest(),
            "url": f"http://res.cloudinary.example/{CLOUD}/image/upload/v{version}/{public_id}.png",
            "secure_url": f"https://res.cloudinary.example/{CLOUD}/image/upload/v{version}/{public_id}.png",
        }
        if existing:
            body["existing"] = True
        return 200, body


def _handler(fake: FakeCloudinary) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != f"/v1_1/{CLOUD}/image/upload":
                self._answer(404, {"error": {"message": f"Invalid cloud_name in {self.path}"}})
                return
            fake.upload_count += 1
            fields, data = _form(self.headers.get("Content-Type", ""), body)
            if fields.get("api_key") != fake.api_key or not fake.signature_ok(fields):
                self._answer(401, {"error": {"message": "Invalid Signature or api_key"}})
                return
            fault = fake.next_fault()
            if fault and fault[0] == "fail":
                status, headers, message = fault[1]
                self._answer(status, {"error": {"message": message}}, headers)
                return
            if fault and fault[0] == "close":
                self.close_connection = True
                return
            status, answer = fake.store(fields, data)
            if fault and fault[0] == "stall":
                time.sleep(fault[1])
            self._answer(status, answer)

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (timeout) or died (kill -9)
                pass

    return Handler


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """A multipart/form-data body as (text fields, the file's bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    data = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        decoded = part.get_payload(decode=True)  # bytes for a non-multipart part
        payload = decoded if isinstance(decoded, bytes) else b""
        if name == "file":
            data = payload
        elif isinstance(name, str):
            fields[name] = payload.decode()
    return fields, data
