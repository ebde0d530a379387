"""Variation PNGs: names, A1111 `parameters` text, atomic writes, thumbnails; real files only."""

from __future__ import annotations

import errno
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from daemon.generation.images import (
    a1111_parameters,
    parse_a1111_parameters,
    read_parameters,
    thumbnail_of,
    variation_filename,
    write_png_atomically,
)
from gladtui.atomicfiles import is_temp_name

KNOWN: dict[str, Any] = {
    "prompt": "muffins on a table",
    "negative_prompt": "blurry, text",
    "steps": 30,
    "sampler": "Euler",
    "cfg_scale": 7.0,
    "seed": 42,
    "width": 1024,
    "height": 1024,
    "model": "tiny-sdxl",
}
LAST_LINE = "Steps: 30, Sampler: Euler, CFG scale: 7.0, Seed: 42, Size: 1024x1024, Model: tiny-sdxl"


def known(**overrides: Any) -> str:
    """The parameters text of KNOWN with some fields replaced."""
    return a1111_parameters(**{**KNOWN, **overrides})


def gradient(width: int = 48, height: int = 32, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [((x * 5) % 256, (y * 7) % 256, (x * y) % 256) for y in range(height) for x in range(width)]
    )
    return image.convert(mode)


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --- names -------------------------------------------------------------------------------------


def test_variation_filename_has_task_index_and_timestamp() -> None:
    when = datetime(2024, 3, 9, 7, 5, 3)
    assert variation_filename("t-42", 3, when) == "sdxl-t-42-variation-3-20240309_070503.png"


@pytest.mark.parametrize("task_id", ["", "a/b", "a\\b", "a\0b"])
def test_variation_filename_refuses_unsafe_task_ids(task_id: str) -> None:
    with pytest.raises(ValueError, match="task id"):
        variation_filename(task_id, 1, datetime(2024, 1, 1))


def test_variation_filename_is_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        variation_filename("t", 0, datetime(2024, 1, 1))


# --- parameters text ---------------------------------------------------------------------------


def test_parameters_text_with_negative_prompt() -> None:
    assert a1111_parameters(**KNOWN) == (
        f"muffins on a table\nNegative prompt: blurry, text\n{LAST_LINE}"
    )


def test_parameters_text_without_negative_prompt() -> None:
    assert known(negative_prompt="") == (f"muffins on a table\n{LAST_LINE}")


def test_parameters_cfg_scale_is_printed_as_a_float() -> None:
    assert "CFG scale: 5.5," in known(cfg_scale=5.5)
    assert "CFG scale: 7.0," in known(cfg_scale=7)


def test_parameters_values_that_would_break_the_line_are_quoted() -> None:
    text = known(sampler="DPM++ 2M, Karras", model='C:\\m "x"')
    last = text.split("\n")[-1]
    assert 'Sampler: "DPM++ 2M, Karras",' in last
    assert last.endswith('Model: "C:\\\\m \\"x\\""')
    parsed = parse_a1111_parameters(text)
    assert parsed["Sampler"] == "DPM++ 2M, Karras"
    assert parsed["Model"] == 'C:\\m "x"'


def test_parameters_keep_multi_line_prompts() -> None:
    text = known(prompt="line one,\n  line: two", negative_prompt="")
    assert text.startswith("line one,\n  line: two\nSteps: 30,")


def test_parse_known_case() -> None:
    assert parse_a1111_parameters(a1111_parameters(**KNOWN)) == {
        "prompt": "muffins on a table",
        "negative_prompt": "blurry, text",
        "Steps": "30",
        "Sampler": "Euler",
        "CFG scale": "7.0",
        "Seed": "42",
        "Size": "1024x1024",
        "Model": "tiny-sdxl",
    }


def test_parse_text_as_a1111_writes_it() -> None:
    text = (
        "a cat,\nwearing a hat\nNegative prompt: ugly\nSteps: 20, Sampler: DPM++ 2M, "
        "Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, Model hash: abc, "
        'Model: sd_xl_base, Lora hashes: "a: 1, b: 2", Version: v1.10.1'
    )
    parsed = parse_a1111_parameters(text)
    assert parsed["prompt"] == "a cat,\nwearing a hat"
    assert parsed["negative_prompt"] == "ugly"
    assert parsed["Schedule type"] == "Karras"
    assert parsed["Lora hashes"] == "a: 1, b: 2"
    assert parsed["Version"] == "v1.10.1"


def test_parse_text_without_a_parameters_line_is_all_prompt() -> None:
    assert parse_a1111_parameters("just a prompt\nover: two lines") == {
        "prompt": "just a prompt\nover: two lines",
        "negative_prompt": "",
    }


_TRICKY = st.sampled_from([",", ":", '"', "\\", "\n", "\r", " ", "\t", "é", "漢", "🙂", "x", "\0"])
_TEXT = st.text(alphabet=st.one_of(_TRICKY, st.characters(codec="utf-8")), max_size=40)


def _no_negative_marker_line(prompt: str) -> bool:
    # The one ambiguity of the format: a prompt line starting with the marker.
    return not any(line.startswith("Negative prompt:") for line in prompt.split("\n"))


@settings(max_examples=300, deadline=None)
@given(
    prompt=_TEXT.filter(_no_negative_marker_line),
    negative=_TEXT,
    steps=st.integers(1, 10_000),
    sampler=_TEXT,
    cfg=st.floats(allow_nan=False, allow_infinity=False),
    seed=st.integers(0, 2**64 - 1),
    width=st.integers(8, 8192),
    height=st.integers(8, 8192),
    model=_TEXT,
)
def test_parameters_round_trip(
    prompt: str,
    negative: str,
    steps: int,
    sampler: str,
    cfg: float,
    seed: int,
    width: int,
    height: int,
    model: str,
) -> None:
    text = a1111_parameters(
        prompt=prompt,
        negative_prompt=negative,
        steps=steps,
        sampler=sampler,
        cfg_scale=cfg,
        seed=seed,
        width=width,
        height=height,
        model=model,
    )
    parsed = parse_a1111_parameters(text)
    cfg_text = parsed.pop("CFG scale")
    assert cfg_text == repr(cfg) and float(cfg_text) == cfg
    assert parsed == {
        "prompt": prompt,
        "negative_prompt": negative,
        "Steps": str(steps),
        "Sampler": sampler,
        "Seed": str(seed),
        "Size": f"{width}x{height}",
        "Model": model,
    }


# --- atomic PNG writes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    ["muffins on a table, golden hour: café", "マフィン、テーブルの上 🙂\nzweite Zeile"],
    ids=["latin-1", "non-latin-1"],
)
def test_write_and_read_back_metadata_and_pixels(tmp_path: Path, prompt: str) -> None:
    source = gradient()
    parameters = known(prompt=prompt)
    path = tmp_path / "v.png"
    write_png_atomically(source, path, parameters=parameters)

    assert read_parameters(path) == parameters
    assert parse_a1111_parameters(read_parameters(path) or "")["prompt"] == prompt
    with Image.open(path) as written:
        assert written.format == "PNG"
        assert written.size == source.size and written.mode == source.mode
        assert written.tobytes() == source.tobytes()
    assert listing(tmp_path) == ["v.png"]


def test_chunk_type_follows_the_text(tmp_path: Path) -> None:
    write_png_atomically(gradient(), tmp_path / "a.png", parameters="café")
    write_png_atomically(gradient(), tmp_path / "b.png", parameters="漢字")
    assert b"tEXtparameters\0caf\xe9" in (tmp_path / "a.png").read_bytes()
    assert b"iTXtparameters\0" in (tmp_path / "b.png").read_bytes()


def test_read_parameters_absent(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    gradient().save(path)
    assert read_parameters(path) is None


@settings(max_examples=40, deadline=None)
@given(parameters=st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_survives_the_png(parameters: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.png"
        write_png_atomically(gradient(4, 4), path, parameters=parameters)
        assert read_parameters(path) == parameters


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "v.png"
    path.write_bytes(b"the reviewer's file")
    with pytest.raises(FileExistsError):
        write_png_atomically(gradient(), path, parameters="p")
    assert path.read_bytes() == b"the reviewer's file"
    assert listing(tmp_path) == ["v.png"]


def test_concurrent_writers_of_one_name_only_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "v.png"
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(number: int) -> None:
        barrier.wait()
        try:
            write_png_atomically(gradient(64, 64), path, parameters=f"writer {number}")
        except FileExistsError:
            outcomes.append("refused")
        else:
            outcomes.append("written")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["written"]
    assert listing(tmp_path) == ["v.png"]
    assert (read_parameters(path) or "").startswith("writer ")


class HalfWrittenImage(Image.Image):
    """An image whose save writes part of a PNG, looks at the folder, then fails (disk full)."""

    folder: Path
    seen_during_write: list[str]

    def save(self, fp: Any, format: str | None = None, **params: Any) -> None:
        stream: IO[bytes] = fp
        stream.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 4096)
        stream.flush()
        self.seen_during_write = listing(self.folder)
        raise OSError(errno.ENOSPC, "No space left on device")


def test_failure_mid_write_leaves_nothing(tmp_path: Path) -> None:
    image = HalfWrittenImage()
    image.folder = tmp_path
    path = tmp_path / "v.png"
    with pytest.raises(OSError, match="No space left"):
        write_png_atomically(image, path, parameters="p")
    assert listing(tmp_path) == []
    # While writing, the only file was our hidden temp file, in the same folder.
    assert len(image.seen_during_write) == 1
    assert is_temp_name(image.seen_during_write[0])
    assert image.seen_during_write[0].startswith(".v.png.")


def test_failure_from_a_truncated_source_leaves_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "src" / "broken.png"
    broken.parent.mkdir()
    gradient(256, 256).save(broken)
    broken.write_bytes(broken.read_bytes()[:300])
    out = tmp_path / "out"
    out.mkdir()
    with Image.open(broken) as image, pytest.raises(OSError):
        write_png_atomically(image, out / "v.png", parameters="p")
    assert listing(out) == []


def test_failure_from_a_closed_image_leaves_nothing(tmp_path: Path) -> None:
    image = gradient()
    image.close()
    with pytest.raises(ValueError):
        write_png_atomically(image, tmp_path / "v.png", parameters="p")
    assert listing(tmp_path) == []


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_png_atomically(gradient(), tmp_path / "nope" / "v.png", parameters="p")


# --- thumbnails --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1024, 512), (256, 128)), ((512, 1024), (128, 256)), ((300, 300), (256, 256))],
)
def test_thumbnail_downscales_keeping_aspect(
    tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    source = tmp_path / "v.png"
    gradient(*size).save(source)
    destination = tmp_path / "cache" / "thumbs" / "v.png"
    assert make_thumbnail(source, destination) == destination
    with Image.open(destination) as thumb:
        assert thumb.format == "PNG"
        assert thumb.size == expected
    assert listing(destination.parent) == ["v.png"]


def test_thumbnail_never_upscales(tmp_path: Path) -> None:
    source = tmp_path / "small.png"
    gradient(40, 20).save(source)
    destination = make_thumbnail(source, tmp_path / "t.png", max_side=256)
    with Image.open(destination) as thumb:
        assert thumb.size == (40, 20)


def test_thumbnail_replaces_an_existing_one(tmp_path: Path) -> None:
    source = tmp_path / "v.png"
    gradient(600, 300).save(source)
    destination = tmp_path / "t.png"
    destination.write_bytes(b"stale")
    make_thumbnail(source, destination, max_side=64)
    with Image.open(destination) as thumb:
        assert thumb.size == (64, 32)
    assert listing(tmp_path) == ["t.png", "v.png"]


def test_thumbnail_of_a_cmyk_source(tmp_path: Path) -> None:
    source = tmp_path / "v.jpg"
    gradient(100, 50, mode="CMYK").save(source)
    with Image.open(make_thumbnail(source, tmp_path / "t.png", max_side=50)) as thumb:
        assert thumb.size == (50, 25) and thumb.mode == "RGB"


def test_thumbnail_rejects_silly_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        thumbnail_of(Image.new("RGB", (8, 8)), tmp_path / "b.png", max_side=0)


def make_thumbnail(source: Path, destination: Path, *, max_side: int = 256) -> Path:
    """thumbnail_of a file on disk, as these tests use it."""
    with Image.open(source) as image:
        return thumbnail_of(image, destination, max_side=max_side)
