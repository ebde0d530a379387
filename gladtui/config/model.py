"""Typed configuration: every key has a default, documented in the root config.yaml.

A typo must never be silently ignored, so unknown keys and wrong types are
errors that name the key path and the file. Paths may use `~` and `$VARS`;
relative paths are relative to the config file that holds them.

Where the config comes from, first match wins: `--config PATH`, then
`$GLADTUI_CONFIG`, then the XDG config file (`~/.config/gladtui/config.yaml`),
then the built-in defaults.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

from gladtui.config import defaults
from gladtui.config.fields import (
    ConfigError,
    ConfigPath,
    Section,
)
from gladtui.config.generation import GenerationConfig
from gladtui.config.publishing import (
    PublishingConfig,
    check_cloudinary_url,
)
from gladtui.config.review import ReviewConfig
from gladtui.yamlsafe import YamlError, load_yaml

if TYPE_CHECKING:
    from gladtui.taskfile import TaskRules


APP_NAME = "gladtui"
CONFIG_ENV = "GLADTUI_CONFIG"
MAX_CONFIG_BYTES = 1 << 20


class LimitsConfig(Section):
    """Bounds on what a task file may ask for. Raise them if your hardware allows."""

    max_task_file_bytes: int = Field(defaults.MAX_TASK_FILE_BYTES, ge=1024, le=16 << 20)
    """larger task files are refused before parsing"""
    max_variations: int = Field(defaults.MAX_VARIATIONS, ge=1, le=1000)
    """most variations one task (or one "more") may ask for"""
    max_steps: int = Field(defaults.MAX_STEPS, ge=1, le=10000)
    """most denoising steps"""
    max_guidance_scale: float = Field(defaults.MAX_GUIDANCE_SCALE, ge=0)
    """highest guidance"""
    min_size: int = Field(defaults.MIN_SIZE, ge=8, multiple_of=8)
    """smallest width and height"""
    max_width: int = Field(defaults.MAX_WIDTH, ge=8, multiple_of=8)
    """largest width and height"""
    max_height: int = Field(defaults.MAX_HEIGHT, ge=8, multiple_of=8)
    """largest width and height"""


class WatchConfig(Section):
    """How the daemon watches drop_dir."""

    stable_seconds: float = Field(0.25, ge=0, le=600)
    """a file written in place is read once unchanged this long (files renamed in are taken at once)
    """
    rescan_seconds: float = Field(30.0, gt=0)
    """full rescan of the drop folder, the safety net for missed events"""
    force_polling: bool = False
    """poll instead of native events (NFS, SMB); so does `WATCHFILES_FORCE_POLLING=1`"""


class ApiConfig(Section):
    """The daemon's HTTP API on its socket (what the TUI and the CLI talk to)."""

    allowed_users: list[int | str] = Field(default_factory=list)
    """other users (uids or names) the daemon answers besides its own; they also need a way into the
    socket's 0700 folder
    """
    group: str | None = Field(None, min_length=1)
    """the reviewers' group: its members may use the API as themselves; the socket's folder becomes
    0750 and the socket 0660 with this group (the daemon's user must be a member); `gladtui
    service install --system` sets `gladtui-reviewers`
    """
    max_request_bytes: int = Field(1 << 20, ge=1024, le=64 << 20)
    """larger request bodies are refused (413)"""
    heartbeat_seconds: float = Field(15.0, gt=0, le=3600)
    """the event stream's heartbeat; the TUI treats 3 missed ones as a lost daemon"""
    header_seconds: float = Field(10.0, gt=0, le=3600)
    """a request's line and headers must all arrive within this of its first byte (of the
    connection, for the first request); a total, so trickling does not extend it; late: 408 and
    the connection closed
    """
    body_seconds: float = Field(30.0, gt=0, le=3600)
    """a request's body must all arrive within this of its headers; late: 408 and the connection
    closed
    """
    idle_seconds: float = Field(60.0, gt=0, le=86400)
    """a kept-alive connection with no next request is closed after this"""
    max_connections: int = Field(512, ge=2, le=1 << 20)
    """open API connections in all; lowered to half the daemon's open-file limit; over it a
    connection gets 503 and is closed
    """
    max_connections_per_user: int = Field(64, ge=1, le=1 << 20)
    """open API connections per user (the caller's uid)"""
    reserved_connections: int = Field(16, ge=1, le=1 << 20)
    """the last of `api.max_connections`, kept for the daemon's own user and root (less than
    `api.max_connections`)
    """

    @model_validator(mode="after")
    def _reserve_leaves_room(self) -> ApiConfig:
        if self.reserved_connections >= self.max_connections:
            raise ValueError(
                f"api.reserved_connections ({self.reserved_connections}) must be less than "
                f"api.max_connections ({self.max_connections}), or only the daemon's own "
                "user could connect"
            )
        return self

    thumbnail_cache_mb: float = Field(256.0, gt=0, le=1 << 20)
    """the daemon's scaled thumbnails (`{cache_dir}/api-thumbnails`) are kept up to this many MB;
    past it the least recently used are removed (down to 80 %)
    """

    def thumbnail_cache_bytes(self) -> int:
        return int(self.thumbnail_cache_mb * (1 << 20))


class TuiConfig(Section):
    """The review TUI (read by `gladtui` on the reviewer's side)."""

    confirm_decisions: bool = True
    """`true`: `a` and `r` ask in a dialog first; `false`: one key approves the selected variation
    (`a`) or rejects (`r`), `A` and `R` still open the dialogs, and `u` undoes
    """
    pictures: Literal["auto", "kitty", "sixel", "iterm2", "halfblocks"] = "auto"
    """how pictures are drawn: `auto` asks the terminal; `kitty`, `sixel`, `iterm2` or `halfblocks`
    force one. `$GLADTUI_PICTURES` overrides it for one terminal
    """


class CleanupConfig(Section):
    """Old previews, removed by a sweep at start and hourly."""

    preview_retention_days: int = Field(30, ge=0)
    """previews of published or rejected tasks older than this are deleted (tasks awaiting review
    never); `0` keeps them forever
    """


def _default_drop_dir() -> Path:
    return Path.home() / "gladtui" / "drop"


def _default_preview_dir() -> Path:
    return Path.home() / "Downloads" / "glad-labs-generated-images"


def _default_state_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME)


def _default_cache_dir() -> Path:
    return platformdirs.user_cache_path(APP_NAME)


class Config(Section):
    """gladtui configuration: every key, with its default.

    gladtui reads the first of: --config PATH, $GLADTUI_CONFIG, then
    ~/.config/gladtui/config.yaml ($XDG_CONFIG_HOME respected); with none, these
    defaults apply. A file needs only the keys it changes. Unknown keys and wrong
    types are errors that name the key, so a typo never passes silently.
    Paths may use ~ and $VARIABLES; relative paths are relative to this file.
    """

    drop_dir: ConfigPath = Field(
        default_factory=_default_drop_dir, json_schema_extra={"shown": "~/gladtui/drop"}
    )
    """task files dropped here become tasks; they move to `processed/` or `failed/` inside it"""
    preview_dir: ConfigPath = Field(
        default_factory=_default_preview_dir,
        json_schema_extra={"shown": "~/Downloads/glad-labs-generated-images"},
    )
    """generated PNGs, kept until a reviewer decides"""
    state_dir: ConfigPath = Field(
        default_factory=_default_state_dir, json_schema_extra={"shown": "~/.local/share/gladtui"}
    )
    """the DuckDB file (`gladtui.duckdb`), the local CDN folder and `daemon.lock` (one daemon per
    state folder)
    """
    cache_dir: ConfigPath = Field(
        default_factory=_default_cache_dir, json_schema_extra={"shown": "~/.cache/gladtui"}
    )
    """thumbnails, the built-in tiny model, and social cards while they are made (`cards/`)"""
    socket: ConfigPath | None = None
    """the daemon's API socket; null: `$XDG_RUNTIME_DIR/gladtui/daemon.sock`, else
    `/tmp/gladtui-<uid>/daemon.sock`
    """
    api: ApiConfig = ApiConfig()
    generation: GenerationConfig = GenerationConfig()
    watch: WatchConfig = WatchConfig()
    limits: LimitsConfig = LimitsConfig()
    publishing: PublishingConfig = PublishingConfig()
    cleanup: CleanupConfig = CleanupConfig()
    review: ReviewConfig = ReviewConfig()
    tui: TuiConfig = TuiConfig()

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> Config:
        gen, lim = self.generation, self.limits
        checks = [
            ("variations", gen.variations, 1, lim.max_variations, "max_variations"),
            ("steps", gen.steps, 1, lim.max_steps, "max_steps"),
            ("width", gen.width, lim.min_size, lim.max_width, "max_width"),
            ("height", gen.height, lim.min_size, lim.max_height, "max_height"),
        ]
        for name, value, low, high, limit_key in checks:
            if not low <= value <= high:
                raise ValueError(
                    f"generation.{name} is {value}, outside {low}..{high} "
                    f"(raise limits.{limit_key} to allow it)"
                )
        guidance = [("generation.guidance_scale", gen.guidance_scale)]
        for name, preset in gen.presets.items():
            if preset.steps is not None and preset.steps > lim.max_steps:
                raise ValueError(
                    f"generation.presets.{name}.steps is {preset.steps}, above "
                    f"limits.max_steps {lim.max_steps}"
                )
            if preset.guidance_scale is not None:
                guidance.append(
                    (f"generation.presets.{name}.guidance_scale", preset.guidance_scale)
                )
        for key, scale in guidance:
            if scale > lim.max_guidance_scale:
                raise ValueError(
                    f"{key} is {scale}, above limits.max_guidance_scale {lim.max_guidance_scale}"
                )
        return self

    @property
    def database_path(self) -> Path:
        return self.state_dir / "gladtui.duckdb"

    @property
    def thumbnail_dir(self) -> Path:
        return self.cache_dir / "thumbnails"

    @property
    def local_cdn_dir(self) -> Path:
        return self.publishing.local.dir or self.state_dir / "cdn"

    def socket_path(self, env: Mapping[str, str] | None = None) -> Path:
        """The configured socket, else under $XDG_RUNTIME_DIR, else a per-user temp folder."""
        if self.socket is not None:
            return self.socket
        env = os.environ if env is None else env
        runtime = env.get("XDG_RUNTIME_DIR")
        if runtime:
            return Path(runtime) / APP_NAME / "daemon.sock"
        return Path(tempfile.gettempdir()) / f"{APP_NAME}-{os.getuid()}" / "daemon.sock"

    def task_rules(self) -> TaskRules:
        # Imported here: taskfile imports gladtui.config.presets, which runs this
        # package's __init__, which imports this module.
        from gladtui.taskfile import TaskRules

        gen, lim = self.generation, self.limits
        return TaskRules(
            variations=gen.variations,
            steps=gen.steps,
            guidance_scale=gen.guidance_scale,
            width=gen.width,
            height=gen.height,
            max_file_bytes=lim.max_task_file_bytes,
            max_variations=lim.max_variations,
            max_steps=lim.max_steps,
            max_guidance_scale=lim.max_guidance_scale,
            min_size=lim.min_size,
            max_width=lim.max_width,
            max_height=lim.max_height,
            scheduler=gen.scheduler,
            loras=dict(gen.loras),
            presets={name: preset.preset() for name, preset in gen.presets.items()},
            lora_dir=gen.lora_dir,
        )

    def cloudinary_url(self) -> str | None:
        """Credentials: `publishing.cloudinary.url`, else $CLOUDINARY_URL at load time."""
        url = self.publishing.cloudinary.url
        return None if url is None else url.get_secret_value()


def default_config_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / APP_NAME / "config.yaml"


def find_config_file(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """Which file to read, by the precedence in the module docstring (None: defaults)."""
    if explicit is not None:
        return explicit
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    candidate = default_config_file(env)
    return candidate if candidate.exists() else None


def load_config(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The configuration to run with, or a ConfigError naming the file and key."""
    env = os.environ if env is None else env
    path = find_config_file(explicit, env)
    if path is None:
        try:
            return _validate({}, base_dir=Path.cwd(), env=env)
        except ConfigError as exc:
            raise ConfigError(f"environment: {exc}") from None
    data = _read_mapping(path)
    try:
        return _validate(data, base_dir=path.parent, env=env)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_errors(exc)}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _validate(data: dict[str, Any], *, base_dir: Path, env: Mapping[str, str]) -> Config:
    config = Config.model_validate(data, context={"base_dir": base_dir, "env": env})
    env_url = env.get("CLOUDINARY_URL")
    if config.publishing.cloudinary.url is None and env_url:
        check_cloudinary_url(env_url, source="$CLOUDINARY_URL")
        cloudinary = config.publishing.cloudinary.model_copy(update={"url": SecretStr(env_url)})
        publishing = config.publishing.model_copy(update={"cloudinary": cloudinary})
        config = config.model_copy(update={"publishing": publishing})
    return config


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_CONFIG_BYTES else None
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    if data is None:
        raise ConfigError(f"{path}: config file is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        loaded = load_yaml(data, max_bytes=MAX_CONFIG_BYTES)
    except YamlError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if loaded is None:
        raise ConfigError(
            f"{path}: config file is empty; add settings or remove it to use the defaults"
        )
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {_kind(loaded)}")
    return loaded


def format_errors(exc: ValidationError) -> str:
    """One line per problem: `generation.steps: expected an integer, got 'thirty'`."""
    lines = []
    for error in exc.errors(include_url=False):
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{key}: {_describe(error)}")
    return "; ".join(lines)


_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "model_type": "a mapping of settings",
    "dict_type": "a mapping of settings",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        known = _known_keys(error["loc"][:-1])
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key{hint}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_kind(value)} {value!r}"
    if kind == "literal_error":
        return f"{error['msg'].removeprefix('Input should be ')}, got {value!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[0].lower() + message[1:] if message else kind


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "text"}
    names.update({list: "a list", dict: "a mapping", type(None): "nothing"})
    return names.get(type(value), type(value).__name__)


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return []
        if not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return list(model.model_fields)
