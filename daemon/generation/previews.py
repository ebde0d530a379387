"""Live previews of the variations being generated: made off the denoising thread, kept in memory.

The denoising thread does the least it can: at most every
`generation.preview_interval_seconds` per running batch it copies the
latents and leaves them in a one-place slot. A small decoder thread takes
them from there, decodes every image of the batch (daemon/generation/previewdecode.py),
and puts each picture on the `PreviewBoard`, the latest one per variation.
A decoder slower than the interval never queues work up: a newer copy
replaces the one waiting. And a slow decoder (taesd on a CPU) is held to a
share of the time: after a decode that took d seconds, the next one waits
d * (1 / BUDGET - 1), so previews never cost more than about BUDGET of the
generation, whatever the hardware.

Previews live only in memory, never in the preview folder (nor anywhere on
disk): a killed daemon leaves none behind. A variation's preview exists from
its first decoded step until its batch ends; then its file (or nothing, if
cancelled) takes over. The step of the latest preview goes on the progress
board, so the event stream tells clients when to fetch a new one.
"""

from __future__ import annotations

import io
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from daemon.generation.previewdecode import PreviewDecoder
from daemon.generation.progress import PreviewMark, ProgressBoard

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

PNG_COMPRESSION = 1  # previews are fetched often and replaced soon: speed over size
BUDGET = 0.04  # the most of the time the decoder thread may take


@dataclass(slots=True)
class Preview:
    """The latest picture of one variation; its PNG is made when first asked for."""

    pixels: np.ndarray[Any, Any]  # HxWx3 uint8
    step: int
    steps: int
    etag: str  # quoted, as sent
    png: bytes | None = field(default=None, repr=False)

    @property
    def step_label(self) -> str:
        return f"{self.step}/{self.steps}"


class PreviewBoard:
    """Thread-safe: the decoder thread writes, the API reads. Keyed by (task, index)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[tuple[str, int]] = set()
        self._latest: dict[tuple[str, int], Preview] = {}
        # In the ETag, so a client's copy from an earlier daemon never matches.
        self._nonce = secrets.token_hex(4)
        self._serial = itertools.count(1)

    def open(self, task_id: str, indexes: Sequence[int]) -> None:
        with self._lock:
            self._open.update((task_id, n) for n in indexes)

    def close(self, task_id: str, indexes: Sequence[int]) -> None:
        """The batch ended: its previews go, and a late one is refused."""
        with self._lock:
            for n in indexes:
                self._open.discard((task_id, n))
                self._latest.pop((task_id, n), None)

    def put(
        self, task_id: str, step: int, steps: int, pictures: dict[int, np.ndarray[Any, Any]]
    ) -> bool:
        """Keep the pictures (by variation index); False if their batch has ended meanwhile."""
        with self._lock:
            if not all((task_id, n) in self._open for n in pictures):
                return False
            for n, pixels in pictures.items():
                etag = f'"preview-{self._nonce}-{next(self._serial)}"'
                self._latest[(task_id, n)] = Preview(pixels, step, steps, etag)
            return True

    def get(self, task_id: str, index: int) -> Preview | None:
        with self._lock:
            return self._latest.get((task_id, index))

    def png(self, preview: Preview) -> bytes:
        """The preview as PNG bytes, encoded once (by whoever asks first)."""
        if preview.png is None:
            from PIL import Image

            out = io.BytesIO()
            Image.fromarray(preview.pixels, "RGB").save(
                out, format="PNG", compress_level=PNG_COMPRESSION
            )
            preview.png = out.getvalue()  # a race encodes twice, harmlessly
        return preview.png

    def __len__(self) -> int:
        with self._lock:
            return len(self._latest)


@dataclass(frozen=True, slots=True)
class _Job:
    task_id: str
    indexes: tuple[int, ...]
    step: int
    steps: int
    latents: Any  # torch.Tensor, a copy the denoising thread no longer touches
    scale: float


class BatchPreviews:
    """One running batch's side of the previews; `offer` runs on the denoising thread."""

    def __init__(self, maker: PreviewMaker | None, task_id: str, indexes: Sequence[int]) -> None:
        self._maker = maker
        self._task_id = task_id
        self._indexes = tuple(indexes)
        self._last = float("-inf")

    def offer(self, step: int, steps: int, latents: Any, scheduler: Any) -> None:
        """The latents after `step` of `steps`: copied for the decoder if one is due."""
        maker = self._maker
        if maker is None or latents is None:
            return
        now = maker.clock()
        if now - self._last < maker.interval or now < maker.rested_at:
            return
        self._last = now
        job = _Job(
            self._task_id,
            self._indexes,
            step,
            steps,
            latents.detach().clone(),
            noise_scale(scheduler),
        )
        maker.hand_over(job)


class PreviewMaker:
    """The decoder thread and its one-place slot, for the generator's whole life."""

    def __init__(
        self,
        board: PreviewBoard,
        progress: ProgressBoard,
        *,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.board = board
        self.progress = progress
        self.interval = interval
        self.clock = clock
        self.decoder: PreviewDecoder | None = None
        self.rested_at = float("-inf")  # no decode before this: the budget's pause
        self.decoded = 0  # batches decoded, and the seconds it took: what previews cost
        self.decode_seconds = 0.0
        self._slot: _Job | None = None
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    @contextmanager
    def batch(self, task_id: str, indexes: Sequence[int]) -> Iterator[BatchPreviews]:
        """Previews for a batch while it runs; when it ends (however), they are gone."""
        if self.decoder is None:
            yield BatchPreviews(None, task_id, indexes)
            return
        self.board.open(task_id, indexes)
        try:
            yield BatchPreviews(self, task_id, indexes)
        finally:
            with self._ready:
                if self._slot is not None and self._slot.task_id == task_id:
                    self._slot = None  # not decoded yet, and never needed now
            self.board.close(task_id, indexes)
            self.progress.set_preview(task_id, None)

    def hand_over(self, job: _Job) -> None:
        with self._ready:
            if self._closed:
                return
            self._slot = job  # a copy still waiting is stale now: replaced
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="previews", daemon=True)
                self._thread.start()
            self._ready.notify()

    def close(self) -> None:
        """End the decoder thread (the generator is stopping)."""
        with self._ready:
            self._closed = True
            self._slot = None
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(10)

    def _run(self) -> None:
        while True:
            with self._ready:
                while self._slot is None and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                job, self._slot = self._slot, None
            assert job is not None
            started = self.clock()
            try:
                self._decode(job)
            except Exception:  # a preview must never take the daemon down
                log.exception("task %s: a preview could not be decoded", job.task_id)
            finished = self.clock()
            self.rested_at = finished + (finished - started) * (1 / BUDGET - 1)
            self.decoded += 1
            self.decode_seconds += finished - started

    def _decode(self, job: _Job) -> None:
        decoder = self.decoder
        if decoder is None:
            return
        latents = job.latents if job.scale == 1.0 else job.latents * job.scale
        pictures = dict(zip(job.indexes, decoder.decode(latents), strict=True))
        if self.board.put(job.task_id, job.step, job.steps, pictures):
            self.progress.set_preview(job.task_id, PreviewMark(job.step, job.steps, job.indexes))


def noise_scale(scheduler: Any) -> float:
    """What brings the latents back to unit scale while noise remains: 1/sqrt(sigma²+1).

    Euler-like samplers (the ones with `sigmas`) hold x + sigma * noise, with
    sigma ~14.6 at the start of SDXL's schedule: unscaled, the first previews
    would be saturated static. This is the same scaling the UNet's input gets
    (`scale_model_input`), and it is 1 at the last step (sigma 0).
    """
    sigmas = getattr(scheduler, "sigmas", None)
    index = getattr(scheduler, "step_index", None)
    if sigmas is None or index is None or getattr(scheduler, "init_noise_sigma", 1.0) <= 1.0:
        return 1.0
    try:
        sigma = float(sigmas[min(index, len(sigmas) - 1)])
    except (TypeError, IndexError):
        return 1.0
    return float((sigma * sigma + 1.0) ** -0.5)
