"""A real S3 endpoint on loopback (moto's server mode), and a proxy that injects faults.

`MotoS3` runs `moto_server` as a subprocess with authentication on: a bucket,
and an IAM user whose access key may use it, are made before the checks
begin, so a wrong key or secret is refused as AWS refuses it.

`FaultProxy` sits between boto3 and moto and passes every request through,
except the faults queued for the next requests of a method: an S3-style
error answer, a stall after moto has stored the object (the client times
out), or a connection closed without an answer.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from tests.ports import free_port

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
BUCKET = "gladtui-images"
REGION = "us-east-1"
_SETUP_ACTIONS = 4  # create_user, put_user_policy, create_access_key, create_bucket
_ALLOW_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


class MotoS3:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_ACTIONS)}
        self._process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_up()
        boot = {"aws_access_key_id": "AKIDSETUP", "aws_secret_access_key": "setup"}
        iam = self.client("iam", **boot)
        iam.create_user(UserName="gladtui")
        iam.put_user_policy(
            UserName="gladtui", PolicyName="s3", PolicyDocument=json.dumps(_ALLOW_S3)
        )
        key = iam.create_access_key(UserName="gladtui")["AccessKey"]
        self.key_id, self.secret = str(key["AccessKeyId"]), str(key["SecretAccessKey"])
        self.s3().create_bucket(Bucket=BUCKET)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start")

    def client(self, service: str, **credentials: str) -> Any:
        credentials = credentials or {
            "aws_access_key_id": self.key_id,
            "aws_secret_access_key": self.secret,
        }
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **credentials)

    def s3(self) -> Any:
        return self.client("s3")

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        s3 = self.s3()
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        return {
            str(o["Key"]): s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed
        }

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


class FaultProxy:
    """HTTP between boto3 and moto; `endpoint` is what the client is given."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: Counter[str] = Counter()  # by method, faults included
        self._faults: dict[str, deque[tuple[str, Any]]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, method: str, status: int, code: str, times: int = 1) -> None:
        self._queue(method, [("fail", (status, code))] * times)

    def stall_after_forward(self, method: str, seconds: float) -> None:
        """Pass the next request on (moto stores it), then wait before answering."""
        self._queue(method, [("stall", seconds)])

    def close_without_answer(self, method: str) -> None:
        self._queue(method, [("close", None)])

    def _queue(self, method: str, faults: list[tuple[str, Any]]) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).extend(faults)

    def next_fault(self, method: str) -> tuple[str, Any] | None:
        with self._lock:
            self.requests[method] += 1
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            pass

        def _any(self) -> None:
            body = self._body()
            fault = proxy.next_fault(self.command)
            if fault is not None and fault[0] == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault[0] == "fail":
                status, code = fault[1]
                self._answer(status, {"Content-Type": "application/xml"}, _error_xml(code))
                return
            status, headers, answer = self._forward(body)
            if fault is not None and fault[0] == "stall":
                time.sleep(fault[1])
            self._answer(status, headers, answer)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
            try:
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() != "transfer-encoding"
                }
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                kept = {
                    k: v
                    for k, v in response.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length")
                }
                if self.command == "HEAD":  # a HEAD answer tells the length of the GET's body
                    kept["Content-Length"] = response.getheader("Content-Length") or "0"
                return response.status, kept, data
            finally:
                upstream.close()

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def _error_xml(code: str) -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>injected {code}</Message><RequestId>test</RequestId></Error>"
    ).encode()
