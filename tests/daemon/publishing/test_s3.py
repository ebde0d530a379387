"""The s3 publisher: boto3 against a real local S3 endpoint (moto's server mode).

Faults are injected by a proxy in front of it (tests/s3server.py); credentials
go through boto3's usual chain, here the environment, as a daemon gets them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.generation.models import LoadedModel
from daemon.publishing.publishers import PublishError
from daemon.publishing.publishers.s3 import S3Publisher
from gladtui.client import Client
from gladtui.config import S3Config
from tests.apidaemon import ApiDaemon, answers, short_dir, task_yaml, wait_until
from tests.s3server import BUCKET, REGION, FaultProxy, MotoS3

GLADTUI = Path(sys.executable).parent / "gladtui"
CDN = "https://images.example.com/"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    server = MotoS3()
    yield server
    server.stop()


@pytest.fixture
def proxy(moto: MotoS3) -> Iterator[FaultProxy]:
    fronted = FaultProxy(moto.port)
    yield fronted
    fronted.stop()


@pytest.fixture
def aws_env(moto: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The daemon's credentials, from the environment only (no ~/.aws, no instance role)."""
    env = {
        "AWS_ACCESS_KEY_ID": moto.key_id,
        "AWS_SECRET_ACCESS_KEY": moto.secret,
        "AWS_REGION": REGION,
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "variation.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2048))
    return path


def publisher(endpoint: str, prefix: str, **settings: object) -> S3Publisher:
    defaults: dict[str, object] = {
        "bucket": BUCKET,
        "prefix": prefix,
        "endpoint_url": endpoint,
        "public_base_url": CDN,
        "timeout_seconds": 5.0,
    }
    return S3Publisher(S3Config.model_validate({**defaults, **settings}))


def test_upload_stores_the_exact_bytes_with_type_and_cache_headers(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    asset = publisher(proxy.endpoint, "a/").upload(image, "muffins-0123")
    assert asset.asset_id == "a/muffins-0123.png" and not asset.existed
    assert asset.url == "https://images.example.com/a/muffins-0123.png"
    assert moto.objects("a/") == {"a/muffins-0123.png": image.read_bytes()}
    head = moto.s3().head_object(Bucket=BUCKET, Key="a/muffins-0123.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["Metadata"]["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()


def test_a_retry_finds_its_object_and_never_writes_again(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    s3 = publisher(proxy.endpoint, "b/")
    s3.upload(image, "t-1")
    puts = proxy.requests["PUT"]
    again = s3.upload(image, "t-1")
    assert again.existed and again.url.endswith("/b/t-1.png")
    assert proxy.requests["PUT"] == puts  # the HEAD answered: no second write
    assert list(moto.objects("b/")) == ["b/t-1.png"]


def test_a_different_object_under_the_key_is_never_overwritten(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    moto.s3().put_object(Bucket=BUCKET, Key="c/t-1.png", Body=b"someone else's image")
    with pytest.raises(PublishError) as refused:
        publisher(proxy.endpoint, "c/").upload(image, "t-1")
    assert not refused.value.retryable
    assert "already holds a different image; not overwriting it" in str(refused.value)
    assert moto.objects("c/") == {"c/t-1.png": b"someone else's image"}


def test_an_image_that_cannot_be_read_fails_at_once(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], tmp_path: Path
) -> None:
    moved = tmp_path / "moved-away.png"
    with pytest.raises(PublishError) as refused:
        publisher(proxy.endpoint, "m/").upload(moved, "t-1")
    assert not refused.value.retryable  # a file that is not there is no network error
    assert f"cannot read the approved image {moved}: No such file" in str(refused.value)
    assert "put the file back at that path" in str(refused.value)
    assert moto.objects("m/") == {}


def test_an_object_written_by_another_tool_counts_when_its_md5_matches(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    moto.s3().put_object(Bucket=BUCKET, Key="d/t-1.png", Body=image.read_bytes())  # no metadata
    assert publisher(proxy.endpoint, "d/").upload(image, "t-1").existed


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (500, "InternalError")])
def test_throttling_and_5xx_are_retried_with_backoff(
    moto: MotoS3,
    proxy: FaultProxy,
    aws_env: dict[str, str],
    image: Path,
    status: int,
    code: str,
) -> None:
    proxy.fail("PUT", status, code, times=2)
    asset = publisher(proxy.endpoint, f"e{status}/").upload(image, "t-1")
    assert not asset.existed
    assert proxy.requests["PUT"] == 3  # two refused, the third stored
    assert list(moto.objects(f"e{status}/")) == [f"e{status}/t-1.png"]


def test_failures_beyond_the_retries_are_left_to_the_job_as_retryable(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    proxy.fail("PUT", 503, "SlowDown", times=3)
    with pytest.raises(PublishError) as failed:
        publisher(proxy.endpoint, "f/").upload(image, "t-1")
    assert failed.value.retryable and "is busy or failing (503 SlowDown)" in str(failed.value)
    assert moto.objects("f/") == {}


def test_a_timeout_after_the_object_was_stored_is_one_object(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    proxy.stall_after_forward("PUT", 4)  # moto stores it; the answer comes after the timeout
    asset = publisher(proxy.endpoint, "g/", timeout_seconds=1.0).upload(image, "t-1")
    assert asset.existed  # the retried PUT met If-None-Match, and the HEAD proved it ours
    assert moto.objects("g/") == {"g/t-1.png": image.read_bytes()}


def test_a_connection_closed_without_an_answer_is_retried(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    proxy.close_without_answer("PUT")
    publisher(proxy.endpoint, "h/").upload(image, "t-1")
    assert moto.objects("h/") == {"h/t-1.png": image.read_bytes()}


def test_nothing_listening_is_a_retryable_network_error(
    aws_env: dict[str, str], image: Path
) -> None:
    with pytest.raises(PublishError) as failed:
        publisher("http://127.0.0.1:9", "i/", timeout_seconds=1.0).upload(image, "t-1")
    assert failed.value.retryable and "cannot reach s3://" in str(failed.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "check the credentials (AWS_ACCESS_KEY_ID and"),
        ({"AWS_ACCESS_KEY_ID": "AKIDNOBODY"}, "check the credentials"),
        ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "no AWS credentials found"),
    ],
)
def test_wrong_or_missing_credentials_say_what_to_fix(
    proxy: FaultProxy,
    aws_env: dict[str, str],
    image: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str | None],
    expected: str,
) -> None:
    for key, value in change.items():
        if value is None:
            monkeypatch.delenv(key)
        else:
            monkeypatch.setenv(key, value)
    with pytest.raises(PublishError) as refused:
        publisher(proxy.endpoint, "j/").upload(image, "t-1")
    assert not refused.value.retryable and expected in str(refused.value)
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in str(refused.value)


def test_a_missing_bucket_says_what_to_fix(
    proxy: FaultProxy, aws_env: dict[str, str], image: Path
) -> None:
    with pytest.raises(PublishError) as refused:
        publisher(proxy.endpoint, "k/", bucket="no-such-bucket").upload(image, "t-1")
    assert not refused.value.retryable
    assert "the bucket 'no-such-bucket' does not exist: create it" in str(refused.value)


def test_urls_without_a_cdn(aws_env: dict[str, str]) -> None:
    minio = publisher("http://minio.local:9000/", "p/", public_base_url=None)
    assert minio.url_for("p/x.png") == "http://minio.local:9000/gladtui-images/p/x.png"
    aws = S3Publisher(S3Config(bucket="bkt", region="eu-west-3"))
    assert (
        aws.url_for("glad-labs/x.png") == "https://bkt.s3.eu-west-3.amazonaws.com/glad-labs/x.png"
    )


# -- through the daemon ---------------------------------------------------------------------


def s3_settings(endpoint: str, prefix: str) -> dict[str, object]:
    return {
        "publisher": "s3",
        "retry_base_seconds": 0.05,
        "grace_seconds": 0,
        "s3": {
            "bucket": BUCKET,
            "prefix": prefix,
            "endpoint_url": endpoint,
            "public_base_url": CDN,
            "timeout_seconds": 60,
        },
    }


def test_approve_publishes_the_variation_to_the_bucket(
    tiny: LoadedModel, moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str]
) -> None:
    live = ApiDaemon(tiny, settings={"publishing": s3_settings(proxy.endpoint, "daemon/")})
    live.start()
    try:
        task_id = live.submit(task_yaml("Scones on S3", variations=2), "scones.yaml")
        live.wait_status(task_id, "review")
        live.client.approve(task_id, 2)
        task = live.wait_status(task_id, "published", "failed")
        assert task["status"] == "published", task["error"]
        [chosen] = [v for v in task["variations"] if v["index"] == 2]
        [(key, stored)] = moto.objects("daemon/").items()
        assert stored == Path(chosen["path"]).read_bytes()
        assert task["post"]["featured_image_url"] == f"{CDN}{key}"
        assert task["post"]["slug"] == "scones-on-s3"
        status = live.client.status()["publishing"]
        assert status["destination"].startswith(f"S3 bucket {BUCKET}, prefix daemon/")
    finally:
        live.cleanup()


def test_wrong_credentials_fail_the_task_with_the_reason(
    tiny: LoadedModel,
    moto: MotoS3,
    proxy: FaultProxy,
    aws_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    live = ApiDaemon(tiny, settings={"publishing": s3_settings(proxy.endpoint, "denied/")})
    live.start()
    try:
        task_id = live.submit(task_yaml("Denied", variations=1), "denied.yaml")
        live.wait_status(task_id, "review")
        live.client.approve(task_id, 1)
        task = live.wait_status(task_id, "failed")
        assert "S3 refused access to s3://gladtui-images" in task["error"]
        assert task["post"] is None and moto.objects("denied/") == {}
    finally:
        live.cleanup()


def test_kill_9_between_upload_and_commit_makes_one_object_and_one_post(
    moto: MotoS3, proxy: FaultProxy, aws_env: dict[str, str], tmp_path: Path
) -> None:
    root = short_dir()
    config = root / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
                "cache_dir": "cache", "socket": "run/d.sock",
                "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
                "publishing": s3_settings(proxy.endpoint, "crash/"),
            }
        )
    )  # fmt: skip
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    client = Client(root / "run" / "d.sock", timeout=30)

    log = tmp_path / "daemon.log"

    def start() -> subprocess.Popen[bytes]:
        command = [str(GLADTUI), "--config", str(config), "daemon", "--log-level", "debug"]
        with log.open("ab") as stderr:
            return subprocess.Popen(command, env=env, stderr=stderr)

    daemon = start()
    try:
        wait_until(lambda: answers(client), timeout=60)
        task_id = client.submit(task_yaml("Crash on S3", variations=2), "c.yaml")["task"]["id"]
        wait_until(lambda: client.task(task_id)["status"] == "review", timeout=120)
        proxy.stall_after_forward("PUT", 120)  # stored in the bucket, never answered in time
        client.approve(task_id, 2)
        wait_until(lambda: len(moto.objects("crash/")) == 1, timeout=60)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        daemon = start()
        wait_until(lambda: answers(client), timeout=60)
        wait_until(lambda: client.task(task_id)["status"] == "published", timeout=120)
        task, posts = client.task(task_id), client.posts()
        [chosen] = [v for v in task["variations"] if v["index"] == 2]
        chosen_bytes = Path(chosen["path"]).read_bytes()
    finally:
        daemon.kill()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)

    [(key, stored)] = moto.objects("crash/").items()
    assert stored == chosen_bytes
    assert proxy.requests["PUT"] == 1  # after the restart the HEAD found it: no second write
    assert posts["total"] == 1 and posts["posts"][0]["featured_image_url"] == f"{CDN}{key}"
    logged = log.read_text()
    assert f"task {task_id} published as crash-on-s3" in logged
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in logged  # not even at debug level
