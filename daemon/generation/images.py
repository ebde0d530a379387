"""Variation PNGs on disk: names, A1111 `parameters` metadata, atomic writes, thumbnails.

Why atomic: the preview folder is watched by the TUI and browsed by the reviewer
(it is often ~/Downloads). Neither may ever see a half-written PNG under a final
name, even if the daemon is killed mid-write. So every file is written through
gladtui/atomicfiles.py: a hidden, marked temp file in the same folder, fsynced,
then published under its final name in one step, and the folder fsynced; crash
clean-up (remove_stray_temp_files there) deletes only those marked temp files.

Why the A1111 format: the `parameters` text chunk written by AUTOMATIC1111 is what
other tools (ComfyUI loaders, image browsers, civitai) read back, so a variation
can be reproduced elsewhere from the file alone.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from PIL import Image
from PIL.PngImagePlugin import PngImageFile, PngInfo

from gladtui.atomicfiles import write_atomically
from gladtui.filemodes import PRIVATE_FILE, make_folders

PARAMETERS_KEY = "parameters"
# gladtui's own text chunk, beside A1111's: JSON of what a rejection's reasons added to
# the prompts (`parameters` has the prompts as rendered, additions included)
ADDITIONS_KEY = "gladtui-additions"
NEGATIVE_MARKER = "Negative prompt:"

# Same shape as A1111's `re_param` (infotext_utils), but an empty quoted value is allowed.
_PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
# A1111 treats the last line as the parameters line only when it has >= 3 of them.
_MIN_PARAMS_IN_LINE = 3
_PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}


def variation_filename(task_id: str, index: int, when: datetime) -> str:
    """`sdxl-{task_id}-variation-{index}-{YYYYmmdd_HHMMSS}.png`; `when` is naive UTC, used as is.

    The task id and the time go into the name so files from different tasks and
    regenerations never collide and sort by task in a file browser.
    """
    if not task_id or any(ch in task_id for ch in ("/", "\\", "\0")):
        raise ValueError(f"task id cannot be used in a file name: {task_id!r}")
    if index < 1:
        raise ValueError(f"variation index is 1-based, got {index}")
    return f"sdxl-{task_id}-variation-{index}-{when:%Y%m%d_%H%M%S}.png"


def variation_files(folder: Path, task_id: str, index: int) -> Iterator[Path]:
    """The files in `folder` named as variation_filename names variation `index`, at any time."""
    return folder.glob(f"sdxl-{task_id}-variation-{index}-*.png")


def _quote(value: str) -> str:
    """Quote a value as A1111 does (JSON string) when it would break the `K: v, ...` line.

    A1111 quotes on `,`, `:` and newline; we also quote on `"` and on leading or
    trailing whitespace or an empty value, so that every value reads back exactly.
    """
    if (
        value == ""
        or value != value.strip()
        or any(ch in value for ch in (",", ":", '"', "\n", "\r"))
    ):
        return json.dumps(value, ensure_ascii=False)
    return value


def _unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    try:
        loaded = json.loads(value)
    except ValueError:
        return value
    return loaded if isinstance(loaded, str) else value


@dataclass(frozen=True, slots=True)
class LoraUse:
    """A LoRA as A1111 records it: `<lora:name:weight>` in the prompt, its hash apart."""

    name: str
    weight: float
    short_hash: str


def lora_tag(name: str, weight: float) -> str:
    return f"<lora:{name}:{weight:g}>"


def a1111_parameters(
    *,
    prompt: str,
    negative_prompt: str,
    steps: int,
    sampler: str,
    cfg_scale: float,
    seed: int,
    width: int,
    height: int,
    model: str,
    schedule_type: str | None = None,
    loras: Sequence[LoraUse] = (),
    vae: str | None = None,
) -> str:
    """The AUTOMATIC1111 `parameters` text: prompt, `Negative prompt: ...`, then one line
    `Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42,
    Size: 1024x1024, Model: m, VAE: v, Lora hashes: "name: hash"`.

    The prompt is kept exactly (A1111 strips the whole text; we do not, so a prompt
    reads back byte for byte), followed by a `<lora:name:weight>` tag per LoRA, as
    A1111 keeps them in its prompt. The negative line is present only when non-empty;
    Schedule type, VAE and Lora hashes only when there is something to say.
    """
    fields = {
        "Steps": str(int(steps)),
        "Sampler": sampler,
        "Schedule type": schedule_type,
        "CFG scale": repr(float(cfg_scale)),
        "Seed": str(int(seed)),
        "Size": f"{int(width)}x{int(height)}",
        "Model": model,
        "VAE": vae,
        "Lora hashes": ", ".join(f"{lora.name}: {lora.short_hash}" for lora in loras) or None,
    }
    last = ", ".join(
        f"{key}: {_quote(value)}" for key, value in fields.items() if value is not None
    )
    tags = "".join(f" {lora_tag(lora.name, lora.weight)}" for lora in loras)
    negative = f"\n{NEGATIVE_MARKER} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{tags}{negative}\n{last}"


def parse_a1111_parameters(text: str) -> dict[str, str]:
    """Read a `parameters` text back: "prompt", "negative_prompt" ("" when absent) and each
    `Key: value` of the last line, quoted values unquoted.

    Like A1111, the last line is the parameters line only when it holds at least three
    `Key: value` pairs (otherwise it belongs to the prompt), and the negative prompt
    starts at the first line beginning with `Negative prompt:`. That makes a prompt
    with such a line inherently ambiguous in this format; everything else (commas,
    colons, quotes, newlines, unicode) round-trips with a1111_parameters.
    """
    body, newline, last = text.rpartition("\n")
    if not newline:
        body, last = text, ""
    matches = _PARAM_RE.findall(last)
    if len(matches) < _MIN_PARAMS_IN_LINE:
        body, matches = text, []

    lines = body.split("\n")
    prompt, negative = body, ""
    for number, line in enumerate(lines):
        if line.startswith(NEGATIVE_MARKER):
            rest = line[len(NEGATIVE_MARKER) :]
            rest = rest[1:] if rest.startswith(" ") else rest
            prompt = "\n".join(lines[:number])
            negative = "\n".join([rest, *lines[number + 1 :]])
            break

    result = {"prompt": prompt, "negative_prompt": negative}
    for key, value in matches:
        result[key] = _unquote(value)
    return result


def write_png_atomically(
    image: Image.Image, path: Path, *, parameters: str, additions: str | None = None
) -> None:
    """Save `image` as a PNG at `path` with `parameters` in a text chunk, atomically.

    Latin-1 text goes in a `tEXt` chunk, anything else in a UTF-8 `iTXt` chunk (as
    A1111 does via Pillow). Raises FileExistsError if `path` exists: a variation is
    never overwritten. The folder must exist. If the process dies mid-write, only a
    temp file remains, which remove_stray_temp_files deletes at the next start.
    """
    info = PngInfo()
    _add_text(info, PARAMETERS_KEY, parameters)
    if additions is not None:
        _add_text(info, ADDITIONS_KEY, additions)

    def write(stream: BinaryIO) -> None:
        image.save(stream, format="PNG", pnginfo=info)

    # 0600 whatever the umask: its text holds the prompt (gladtui/filemodes.py).
    write_atomically(path, write, overwrite=False, permissions=PRIVATE_FILE)


def _add_text(info: PngInfo, key: str, value: str) -> None:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        info.add_itxt(key, value)
    else:
        info.add_text(key, value)


def read_parameters(path: Path, key: str = PARAMETERS_KEY) -> str | None:
    """The `parameters` text of a PNG (or another text chunk's), or None when it has none.

    Raises PIL.UnidentifiedImageError for a file that is not an image.
    """
    with Image.open(path) as image:
        value = image.info.get(key)
        if value is None and isinstance(image, PngImageFile):
            # Text chunks after the image data are only seen once the image is read.
            value = image.text.get(key)
    return None if value is None else str(value)


def thumbnail_of(image: Image.Image, destination: Path, *, max_side: int = 256) -> Path:
    """A PNG no larger than `max_side` on either side, aspect kept, never upscaled.

    From the image in memory (the generator's: no re-decode). Written atomically
    like variations (a client may be reading the old one), but an existing
    thumbnail is replaced. Parent folders are created.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    return _scaled_png(image, destination, (max_side, max_side))


def narrowed_png(image: Image.Image, *, max_width: int) -> bytes:
    """PNG bytes of `image` at most `max_width` pixels wide, aspect kept, never upscaled."""
    if max_width < 1:
        raise ValueError(f"max_width must be at least 1, got {max_width}")
    stream = io.BytesIO()
    _save_scaled(image, (max_width, image.height), stream)
    return stream.getvalue()


def _scaled_png(image: Image.Image, destination: Path, box: tuple[int, int]) -> Path:
    make_folders(destination.parent)
    write_atomically(
        destination,
        lambda stream: _save_scaled(image, box, stream),
        overwrite=True,
        permissions=PRIVATE_FILE,
    )
    return destination


def _save_scaled(image: Image.Image, box: tuple[int, int], stream: BinaryIO) -> None:
    thumb = image.copy()
    thumb.thumbnail(box)
    if thumb.mode not in _PNG_MODES:
        thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
    # Thumbnails are a cache the TUI reads often and rebuilds freely: fast
    # compression matters more than size here.
    thumb.save(stream, format="PNG", compress_level=1)
