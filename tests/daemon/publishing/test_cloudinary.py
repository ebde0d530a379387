"""The Cloudinary publisher: the real SDK against a local server that speaks its upload API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.publishing.publishers.base import PublishError
from daemon.publishing.publishers.cloudinary import CloudinaryPublisher
from tests.fakecloudinary import API_SECRET, FakeCloudinary


@pytest.fixture
def cdn() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "variation.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return path


def publisher(
    cdn: FakeCloudinary, url: str | None = None, timeout: float = 5
) -> CloudinaryPublisher:
    return CloudinaryPublisher(
        url or cdn.url, folder="glad-labs", upload_prefix=cdn.prefix, timeout=timeout
    )


def refusal(call: object) -> PublishError:
    with pytest.raises(PublishError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_an_upload_stores_the_exact_bytes_under_folder_and_id(
    cdn: FakeCloudinary, image: Path
) -> None:
    asset = publisher(cdn).upload(image, "muffins-001-abc")
    assert cdn.assets == {"glad-labs/muffins-001-abc": image.read_bytes()}
    assert asset.asset_id == "glad-labs/muffins-001-abc" and not asset.existed
    assert asset.url.startswith("https://") and asset.url.endswith("/glad-labs/muffins-001-abc.png")


def test_wrong_credentials_fail_at_once_without_showing_the_secret(
    cdn: FakeCloudinary, image: Path
) -> None:
    wrong = cdn.url.replace(API_SECRET, "not-the-secret")
    error = refusal(lambda: publisher(cdn, wrong).upload(image, "x"))
    assert not error.retryable and "check CLOUDINARY_URL" in str(error) and "401" in str(error)
    assert "not-the-secret" not in str(error) + repr(error)
    assert cdn.assets == {}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (420, True), (400, False), (403, False)],
)
def test_http_errors_are_retryable_only_when_they_may_clear(
    cdn: FakeCloudinary, image: Path, status: int, retryable: bool
) -> None:
    cdn.fail(status, headers={"Retry-After": "1", "X-FeatureRateLimit-Remaining": "0"})
    error = refusal(lambda: publisher(cdn).upload(image, "x"))
    assert error.retryable is retryable and f"({status})" in str(error)


def test_a_timeout_after_the_store_then_a_retry_is_one_asset(
    cdn: FakeCloudinary, image: Path
) -> None:
    cdn.stall_after_store(2)
    first = refusal(lambda: publisher(cdn, timeout=0.5).upload(image, "slow"))
    assert first.retryable and "timed out" in str(first)
    again = publisher(cdn).upload(image, "slow")
    assert again.existed and list(cdn.assets) == ["glad-labs/slow"]
    assert cdn.assets["glad-labs/slow"] == image.read_bytes()


def test_the_same_id_with_other_bytes_is_never_overwritten(
    cdn: FakeCloudinary, image: Path, tmp_path: Path
) -> None:
    publisher(cdn).upload(image, "taken")
    other = tmp_path / "other.png"
    other.write_bytes(b"different bytes")
    error = refusal(lambda: publisher(cdn).upload(other, "taken"))
    assert not error.retryable and "different content" in str(error)
    assert cdn.assets["glad-labs/taken"] == image.read_bytes()


def test_connection_refused_and_a_dropped_connection_are_retryable(image: Path) -> None:
    with FakeCloudinary() as cdn:
        cdn.close_without_answer()
        assert refusal(lambda: publisher(cdn).upload(image, "x")).retryable
        stopped = publisher(cdn)
    error = refusal(lambda: stopped.upload(image, "x"))
    assert error.retryable and "cannot reach Cloudinary" in str(error)
    assert API_SECRET not in str(error)


def test_an_image_that_cannot_be_read_fails_at_once_saying_what_to_do(
    cdn: FakeCloudinary, tmp_path: Path
) -> None:
    moved = tmp_path / "moved-away.png"
    error = refusal(lambda: publisher(cdn).upload(moved, "x"))
    assert not error.retryable  # a file that is not there is no network error
    assert str(error) == (
        f"cannot read the approved image {moved}: No such file or directory; put the file "
        "back at that path and approve again, or generate more variations"
    )
    assert cdn.upload_count == 0
