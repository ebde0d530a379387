"""Task files: read one dropped YAML file and turn it into a validated `TaskSpec`.

Both `gladtui submit` and the daemon's watcher come through here, so a file is
judged the same way before and after it is dropped. Anything can land in the
drop folder (a half-written file, a PNG, a symlink to /etc/shadow, a FIFO that
would block a reader forever, a YAML bomb), so the contract is strict: for any
input, the only exception that leaves this module is `TaskFileError`, and it
lists every problem at once, by field name, so the person fixing the file does
not have to resubmit it once per mistake.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gladtui.config import defaults
from gladtui.config.presets import Preset, merge_loras, over_defaults
from gladtui.taskcheck import FieldChecker, kind, one_line
from gladtui.taskid import derive_task_id, is_safe_task_id
from gladtui.yamlsafe import YamlError, load_yaml

__all__ = [
    "TaskFile",
    "TaskFileError",
    "TaskRules",
    "TaskSettings",
    "TaskSpec",
    "derive_task_id",
    "is_safe_task_id",
    "parse_task",
    "read_task_bytes",
    "read_task_file",
]

MAX_TITLE_CHARS = 200
MAX_PROMPT_CHARS = 2000
MAX_ALT_CHARS = 500  # a screen reader reads it whole: ~125 is the usual advice
MAX_CAPTION_CHARS = 1000
# Seeds travel as JSON numbers; above 2**53 a JavaScript client silently rounds them.
MAX_SEED = 2**53 - 1
_SHOWN_PROBLEMS = 50  # more than this is noise; the count still says how many


@dataclass(frozen=True, slots=True)
class TaskRules:
    """Defaults for fields a task leaves out, and the limits a task must stay within.

    Built from the user's config (`Config.task_rules()`), so limits can be raised
    there; without one, the shipped defaults (gladtui/config/defaults.py).
    """

    variations: int = defaults.VARIATIONS
    steps: int = defaults.STEPS
    guidance_scale: float = defaults.GUIDANCE_SCALE
    width: int = defaults.WIDTH
    height: int = defaults.HEIGHT
    max_file_bytes: int = defaults.MAX_TASK_FILE_BYTES
    max_variations: int = defaults.MAX_VARIATIONS
    max_steps: int = defaults.MAX_STEPS
    max_guidance_scale: float = defaults.MAX_GUIDANCE_SCALE
    min_size: int = defaults.MIN_SIZE
    max_width: int = defaults.MAX_WIDTH
    max_height: int = defaults.MAX_HEIGHT
    scheduler: str | None = None  # None: the model's own
    loras: Mapping[str, float] = field(default_factory=dict)  # given to every task
    presets: Mapping[str, Preset] = field(default_factory=dict)
    lora_dir: Path | None = None  # where named LoRAs must exist

    def __post_init__(self) -> None:
        # A default the limits would refuse would make every file that omits the
        # field either invalid or silently out of bounds; refuse the rules instead.
        checks = [
            ("variations", self.variations, 1, self.max_variations),
            ("steps", self.steps, 1, self.max_steps),
            ("guidance_scale", self.guidance_scale, 0, self.max_guidance_scale),
            ("width", self.width, self.min_size, self.max_width),
            ("height", self.height, self.min_size, self.max_height),
        ]
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise ValueError(f"default {name} {value} is outside {low}..{high}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSettings:
    """What a task asks for, every setting resolved: what a task file gives its task.

    Declared once: TaskSpec adds how the file was read, the daemon's NewTask
    (daemon/store/records.py) where it came from, and its TaskRecord the rest of
    the stored row; a new setting is added here.
    """

    id: str
    title: str
    prompt: str
    negative_prompt: str = ""
    content: str = ""
    variations: int
    steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int | None = None  # base seed, variation i of a batch uses seed + i; None: drawn
    scheduler: str | None = None  # a name of gladtui/samplers.py; None: the model's own
    loras: Mapping[str, float] = field(default_factory=dict)  # config + preset + task
    file_loras: Mapping[str, float] = field(default_factory=dict)  # the task file's own
    preset: str | None = None
    alt: str = ""  # the image's alt text; empty: derived from the title (gladtui/alttext.py)
    caption: str = ""  # shown under the image where the destination has a place; empty: none
    focus: tuple[float, float] | None = None  # x, y in 0..1: the social card's centre


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec(TaskSettings):
    """One validated task, every field filled (defaults come from `TaskRules`)."""

    id_from_file: bool = False  # True when `id` was derived from the file name


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A task file as read from disk: its spec plus what identifies its bytes."""

    spec: TaskSpec
    sha256: str  # hex digest of the raw bytes: the same content dropped twice is one task
    file_name: str
    size: int


class TaskFileError(ValueError):
    """A task file that cannot be accepted. `str()` is one message listing every problem."""

    def __init__(self, problems: list[str], file_name: str = "", title: str | None = None) -> None:
        # Wide enough for the longest list a problem names (the samplers); user text
        # inside problems is already cut short where it is quoted.
        self.problems = [one_line(p, 1000) for p in problems] or ["not a valid task file"]
        self.file_name = file_name
        self.title = title  # the file's own title when that field was fine, for the refusal
        super().__init__(self._message())

    def __reduce__(self) -> tuple[type[TaskFileError], tuple[list[str], str, str | None]]:
        # The default pickling passes str(self) back as `problems`; the daemon may
        # hand errors across process boundaries, so keep them whole.
        return (type(self), (self.problems, self.file_name, self.title))

    def _message(self) -> str:
        prefix = f"{one_line(self.file_name)}: " if self.file_name else ""
        shown = self.problems[:_SHOWN_PROBLEMS]
        more = len(self.problems) - len(shown)
        listed = "; ".join(shown) + (f"; … and {more} more" if more else "")
        if len(self.problems) == 1:
            return prefix + listed
        return f"{prefix}{len(self.problems)} problems: {listed}"


def parse_task(data: bytes, *, file_name: str, rules: TaskRules) -> TaskSpec:
    """Validate the bytes of one task file; raise TaskFileError listing every problem.

    Never raises anything else, whatever the bytes: the daemon must survive any
    file that lands in its drop folder.
    """
    try:
        return _parse(data, file_name, rules)
    except TaskFileError:
        raise
    except (RecursionError, MemoryError):
        raise TaskFileError(["too deeply nested or too large to read"], file_name) from None
    except Exception as exc:  # a parser bug must not crash the daemon; report it instead
        problem = f"cannot be read ({type(exc).__name__}: {exc})"
        raise TaskFileError([problem], file_name) from exc


def _parse(data: bytes, file_name: str, rules: TaskRules) -> TaskSpec:
    doc = _load(data, file_name, rules)
    if doc is None:
        raise TaskFileError(["the file is empty; it needs at least title: and prompt:"], file_name)
    if not isinstance(doc, dict):
        problem = f"expected a mapping of fields (title: …, prompt: …), got {kind(doc)}"
        raise TaskFileError([problem], file_name)
    c = FieldChecker(doc)
    c.unknown_keys()
    task_id, id_from_file = c.task_id(file_name, data)
    title = c.text("title", max_chars=MAX_TITLE_CHARS, required=True, line=True)
    prompt = c.prompt("prompt", max_chars=MAX_PROMPT_CHARS, required=True)
    negative = c.prompt("negative_prompt", max_chars=MAX_PROMPT_CHARS, required=False)
    preset_name = c.preset("preset", rules.presets)
    preset = rules.presets.get(preset_name or "", Preset())
    variations = c.number("variations", rules.variations, 1, rules.max_variations)
    default = over_defaults(preset, rules)
    steps = c.number("steps", default.steps, 1, rules.max_steps)
    guidance = c.scale("guidance_scale", default.guidance_scale, rules.max_guidance_scale)
    scheduler = c.sampler(c.sampler_field(), default.scheduler)
    task_loras = c.loras("loras")
    loras = merge_loras(default.loras, task_loras)
    c.loras_exist("loras", loras, rules.lora_dir)
    width = c.number("width", rules.width, rules.min_size, rules.max_width, step=8)
    height = c.number("height", rules.height, rules.min_size, rules.max_height, step=8)
    seed = c.number("seed", None, 0, MAX_SEED)
    content = c.text("content", max_chars=rules.max_file_bytes, required=False, line=False)
    alt = c.words("alt", max_chars=MAX_ALT_CHARS)
    caption = c.words("caption", max_chars=MAX_CAPTION_CHARS)
    focus = c.focus("focus")
    if c.problems:
        raise TaskFileError(c.problems, file_name, title=title)
    # No problems means every required value is set; the asserts tell mypy so.
    assert task_id is not None and title is not None and prompt is not None
    assert variations is not None and steps is not None and guidance is not None
    assert width is not None and height is not None
    return TaskSpec(
        id=task_id,
        title=title,
        prompt=prompt,
        negative_prompt=negative or "",
        variations=variations,
        steps=steps,
        guidance_scale=guidance,
        width=width,
        height=height,
        seed=seed,
        content=content or "",
        id_from_file=id_from_file,
        scheduler=scheduler,
        loras=loras,
        file_loras=task_loras,
        preset=preset_name,
        alt=alt,
        caption=caption,
        focus=focus,
    )


def _load(data: bytes, file_name: str, rules: TaskRules) -> object:
    try:
        return load_yaml(data, max_bytes=rules.max_file_bytes)
    except YamlError as exc:
        raise TaskFileError([str(exc)], file_name) from None


def read_task_file(path: Path, *, rules: TaskRules) -> TaskFile:
    """Read and validate one task file, refusing anything that is not a plain, small file."""
    data = read_task_bytes(path, max_bytes=rules.max_file_bytes)
    return task_file(data, file_name=path.name, rules=rules)


def task_file(data: bytes, *, file_name: str, rules: TaskRules) -> TaskFile:
    """Validate bytes already read: the TaskFile that exactly these bytes make."""
    spec = parse_task(data, file_name=file_name, rules=rules)
    return TaskFile(
        spec=spec, sha256=hashlib.sha256(data).hexdigest(), file_name=file_name, size=len(data)
    )


def read_task_bytes(path: Path, *, max_bytes: int) -> bytes:
    """The raw bytes of a task file, refusing anything that is not a plain, small file.

    The type and size are checked with lstat first, so a FIFO, device or symlink
    is never even opened (opening some devices has side effects). The open
    itself uses O_NOFOLLOW (a symlink swapped in meanwhile could point at a
    secret the daemon can read) and O_NONBLOCK (a FIFO swapped in would block
    the reader until a writer appears); the checks are repeated on the open
    descriptor, and at most cap+1 bytes are read, so a file that grows while
    being read is caught too. Separate from parsing so that the daemon can
    record that it is about to parse these bytes before it does.
    """
    name = path.name
    cap = max_bytes
    try:
        before = os.lstat(path)
    except OSError as exc:
        raise TaskFileError([_os_problem(exc)], name) from None
    _check_stat(before, name, cap)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise TaskFileError([_os_problem(exc)], name) from None
    try:
        _check_stat(os.fstat(fd), name, cap)
        chunks: list[bytes] = []
        remaining = cap + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise TaskFileError([_os_problem(exc)], name) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > cap:
        raise TaskFileError([f"grew past the limit of {cap:,} bytes while being read"], name)
    return data


def _check_stat(st: os.stat_result, name: str, cap: int) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if st.st_size > cap:
            raise TaskFileError([f"file is {st.st_size:,} bytes; the limit is {cap:,}"], name)
        return
    if stat.S_ISLNK(mode):
        problem = "is a symbolic link; drop the file itself"
    elif stat.S_ISDIR(mode):
        problem = "is a directory, not a task file"
    elif stat.S_ISFIFO(mode):
        problem = "is a named pipe (FIFO), not a regular file"
    elif stat.S_ISSOCK(mode):
        problem = "is a socket, not a regular file"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        problem = "is a device, not a regular file"
    else:
        problem = "is not a regular file"
    raise TaskFileError([problem], name)


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink swapped in after lstat
        return "is a symbolic link; drop the file itself"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; the file cannot be read"
    if exc.errno == errno.ENOENT:
        return "does not exist (moved or deleted?)"
    return f"cannot be read: {exc.strerror or exc}"
