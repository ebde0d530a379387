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
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from gladtui.presets import (
    Preset,
    lora_name_problem,
    lora_weight_problem,
    preset_name_problem,
)
from gladtui.samplers import canonical_sampler, sampler_problem
from gladtui.taskfile import TaskRules
from gladtui.yamlsafe import YamlError, load_yaml

APP_NAME = "gladtui"
CONFIG_ENV = "GLADTUI_CONFIG"
MAX_CONFIG_BYTES = 1 << 20
BUILTIN_MODEL_PREFIX = "builtin:"

_UNSET_VAR = re.compile(r"\$(\w+|\{\w+\})")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and key."""


def _context(info: ValidationInfo) -> tuple[Path, Mapping[str, str]]:
    ctx = info.context or {}
    return ctx.get("base_dir", Path.cwd()), ctx.get("env", os.environ)


def expand_path(text: str, *, base_dir: Path, env: Mapping[str, str]) -> Path:
    """`~`, `$VAR` and relative paths, resolved as the config file's author meant."""
    missing = [m.group(1).strip("{}") for m in _UNSET_VAR.finditer(text)]
    missing = [name for name in missing if name not in env]
    if missing:
        raise ValueError(f"environment variable ${missing[0]} is not set (in {text!r})")
    expanded = _UNSET_VAR.sub(lambda m: env[m.group(1).strip("{}")], text)
    path = Path(expanded).expanduser()
    return path if path.is_absolute() else (base_dir / path).absolute()


def _to_path(value: object, info: ValidationInfo) -> object:
    if isinstance(value, str):
        base_dir, env = _context(info)
        return expand_path(value, base_dir=base_dir, env=env)
    return value


ConfigPath = Annotated[Path, BeforeValidator(_to_path)]


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", ".", "~", "$")) or model.endswith((".safetensors", ".ckpt"))


def _to_model_ref(value: object, info: ValidationInfo) -> object:
    """A path-like model is resolved like any path; a repo id or builtin: is kept."""
    if isinstance(value, str) and _looks_like_path(value):
        base_dir, env = _context(info)
        return str(expand_path(value, base_dir=base_dir, env=env))
    return value


def _to_sampler(value: str) -> str:
    """A sampler name as the registry spells it; A1111's spelling is accepted."""
    canonical = canonical_sampler(value)
    if canonical is None:
        raise ValueError(sampler_problem(value))
    return canonical


SamplerName = Annotated[str, AfterValidator(_to_sampler)]


def _check_loras(loras: dict[str, float]) -> dict[str, float]:
    for name, weight in loras.items():
        problem = lora_name_problem(name) or lora_weight_problem(weight)
        if problem:
            raise ValueError(problem)
    return loras


LoraWeights = Annotated[dict[str, float], AfterValidator(_check_loras)]


class _Section(BaseModel):
    # strict: a YAML string "3" is not an integer; extra: a typo is an error.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PresetConfig(_Section):
    """A named set of generation settings (`generation.presets.NAME`); unset keys
    fall back to the `generation` defaults."""

    steps: int | None = Field(None, ge=1)
    guidance_scale: float | None = Field(None, ge=0)
    scheduler: SamplerName | None = None
    loras: LoraWeights = {}

    def preset(self) -> Preset:
        return Preset(self.steps, self.guidance_scale, self.scheduler, dict(self.loras))


def _check_presets(presets: dict[str, PresetConfig]) -> dict[str, PresetConfig]:
    for name in presets:
        problem = preset_name_problem(name)
        if problem:
            raise ValueError(problem)
    return presets


class RayConfig(_Section):
    address: str = "local"
    replicas: int = Field(1, ge=1, le=1024)
    gpus_per_replica: float = Field(0, ge=0)
    cpus_per_replica: float = Field(1, gt=0)
    torch_threads: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check_address(self) -> RayConfig:
        a = self.address
        if not (a in ("local", "auto") or a.startswith("ray://") or ":" in a):
            raise ValueError(
                f"generation.ray.address {a!r}: use local (start Ray in the daemon), "
                "auto (the cluster this machine belongs to), ray://HEAD:10001 or HOST:6379"
            )
        return self


class GenerationConfig(_Section):
    model: Annotated[str, BeforeValidator(_to_model_ref)] = (
        "stabilityai/stable-diffusion-xl-base-1.0"
    )
    config_dir: ConfigPath | None = None
    allow_download: bool = True
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    variations: int = Field(3, ge=1)
    steps: int = Field(30, ge=1)
    guidance_scale: float = Field(7.0, ge=0)
    width: int = Field(1024, ge=8, multiple_of=8)
    height: int = Field(1024, ge=8, multiple_of=8)
    batch_size: int = Field(3, ge=1, le=64)
    cpu_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False
    max_attempts: int = Field(3, ge=1, le=100)
    scheduler: SamplerName | None = None
    lora_dir: ConfigPath | None = None
    loras: LoraWeights = {}
    presets: Annotated[dict[str, PresetConfig], AfterValidator(_check_presets)] = {}
    vae: Annotated[str | None, BeforeValidator(_to_model_ref)] = None
    max_prompt_tokens: int | None = Field(None, ge=1)
    backend: Literal["local", "ray"] = "local"
    ray: RayConfig = RayConfig()
    previews: Literal["approx", "taesd", "off"] = "approx"
    preview_model: Annotated[str, BeforeValidator(_to_model_ref)] = "madebyollin/taesdxl"
    preview_interval_seconds: float = Field(0.5, ge=0, le=3600)


class LimitsConfig(_Section):
    max_task_file_bytes: int = Field(65536, ge=1024, le=16 << 20)
    max_variations: int = Field(16, ge=1, le=1000)
    max_steps: int = Field(150, ge=1, le=10000)
    max_guidance_scale: float = Field(30.0, ge=0)
    min_size: int = Field(64, ge=8, multiple_of=8)
    max_width: int = Field(2048, ge=8, multiple_of=8)
    max_height: int = Field(2048, ge=8, multiple_of=8)


class LocalPublisherConfig(_Section):
    dir: ConfigPath | None = None
    base_url: str | None = None


class CloudinaryConfig(_Section):
    folder: str = "glad-labs"
    url: SecretStr | None = None
    upload_prefix: str | None = None
    timeout_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _check_url(self) -> CloudinaryConfig:
        if self.url is not None:
            check_cloudinary_url(self.url.get_secret_value())
        return self


class S3Config(_Section):
    bucket: str | None = None
    prefix: str = "glad-labs/"
    region: str | None = None
    endpoint_url: str | None = None
    public_base_url: str | None = None
    profile: str | None = None
    cache_control: str = "public, max-age=31536000, immutable"
    timeout_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _check_urls(self) -> S3Config:
        for key in ("endpoint_url", "public_base_url"):
            value = getattr(self, key)
            if value is not None and urlsplit(value).scheme not in ("http", "https"):
                raise ValueError(f"publishing.s3.{key} must be an http(s) URL, got {value!r}")
        return self


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _column_name(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a column name (letters, digits, _ and $)")
    return value


def _table_name(value: str) -> str:
    if not all(_IDENTIFIER.fullmatch(part) for part in value.split(".", 1)):
        raise ValueError(f"{value!r} is not a table name, e.g. posts or blog.posts")
    return value


ColumnName = Annotated[str, AfterValidator(_column_name)]


class PostgresColumns(_Section):
    """Which column of the blog's table holds what; null leaves a column to its default."""

    title: ColumnName = "title"
    slug: ColumnName = "slug"
    content: ColumnName | None = "content"
    featured_image_url: ColumnName = "featured_image_url"
    created_at: ColumnName | None = "created_at"
    updated_at: ColumnName | None = "updated_at"


class PostgresPostsConfig(_Section):
    """The blog's own posts table. The DSN comes from the environment, never from here."""

    table: Annotated[str, AfterValidator(_table_name)] = "posts"
    columns: PostgresColumns = PostgresColumns()
    timeout_seconds: float = Field(10.0, gt=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _no_connection_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"dsn", "url", "password", "conninfo"} & set(data):
            raise ValueError(
                "the posts database's connection is never read from the config file (it "
                "would put a password in it): set GLADTUI_POSTS_DSN in the daemon's "
                "environment, or libpq's PG* variables and ~/.pgpass"
            )
        return data


class MarkdownPostsConfig(_Section):
    dir: ConfigPath | None = None
    image_key: str = Field("image", min_length=1)


class WebhookPostsConfig(_Section):
    url: str | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=600)

    @model_validator(mode="after")
    def _check_url(self) -> WebhookPostsConfig:
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("publishing.posts.webhook.url must be an http(s) URL")
        return self


class PostsConfig(_Section):
    """Where a published post goes; gladtui keeps its own record of each in any case."""

    to: Literal["local", "postgres", "markdown", "webhook"] = "local"
    postgres: PostgresPostsConfig = PostgresPostsConfig()
    markdown: MarkdownPostsConfig = MarkdownPostsConfig()
    webhook: WebhookPostsConfig = WebhookPostsConfig()

    @model_validator(mode="after")
    def _destination_is_complete(self) -> PostsConfig:
        if self.to == "markdown" and self.markdown.dir is None:
            raise ValueError(
                "publishing.posts.markdown.dir is required when publishing.posts.to is markdown"
            )
        if self.to == "webhook" and self.webhook.url is None:
            raise ValueError(
                "publishing.posts.webhook.url is required when publishing.posts.to is webhook"
            )
        return self


class PublishingConfig(_Section):
    publisher: Literal["local", "cloudinary", "s3"] = "local"
    on_duplicate_slug: Literal["suffix", "update", "skip"] = "suffix"
    # An approval or a rejection takes effect this long after it is made; until
    # then it can be undone. 0: at once.
    grace_seconds: float = Field(10.0, ge=0, le=86400)
    delete_local_after_publish: bool = False
    max_attempts: int = Field(5, ge=1, le=100)
    retry_base_seconds: float = Field(2.0, gt=0, le=3600)
    local: LocalPublisherConfig = LocalPublisherConfig()
    cloudinary: CloudinaryConfig = CloudinaryConfig()
    s3: S3Config = S3Config()
    posts: PostsConfig = PostsConfig()

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> PublishingConfig:
        if self.publisher == "s3" and not self.s3.bucket:
            raise ValueError("publishing.s3.bucket is required when publishing.publisher is s3")
        return self


class WatchConfig(_Section):
    stable_seconds: float = Field(0.25, ge=0, le=600)
    rescan_seconds: float = Field(30.0, gt=0)
    force_polling: bool = False


class ApiConfig(_Section):
    # Users other than the daemon's own who may call the API (uids or user
    # names). The socket's folder is 0700, so they also need a way in: see README.
    allowed_users: list[int | str] = []
    # The reviewers' group: its members may call the API, and the socket's
    # folder (0750) and the socket (0660) belong to it. None: the daemon's user only.
    group: str | None = Field(None, min_length=1)
    max_request_bytes: int = Field(1 << 20, ge=1024, le=64 << 20)
    heartbeat_seconds: float = Field(15.0, gt=0, le=3600)


class TuiConfig(_Section):
    # false: `a` approves the selected variation and `r` rejects with one key each
    # (undo with `u` during publishing.grace_seconds); true: a dialog asks first.
    confirm_decisions: bool = True
    # How pictures are drawn: auto asks the terminal; the others force one when the
    # guess is wrong (tmux with passthrough, a browser terminal). $GLADTUI_PICTURES wins.
    pictures: Literal["auto", "kitty", "sixel", "iterm2", "halfblocks"] = "auto"


class CleanupConfig(_Section):
    preview_retention_days: int = Field(30, ge=0)


def _default_drop_dir() -> Path:
    return Path.home() / "gladtui" / "drop"


def _default_preview_dir() -> Path:
    return Path.home() / "Downloads" / "glad-labs-generated-images"


def _default_state_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME)


def _default_cache_dir() -> Path:
    return platformdirs.user_cache_path(APP_NAME)


class Config(_Section):
    drop_dir: ConfigPath = Field(default_factory=_default_drop_dir)
    preview_dir: ConfigPath = Field(default_factory=_default_preview_dir)
    state_dir: ConfigPath = Field(default_factory=_default_state_dir)
    cache_dir: ConfigPath = Field(default_factory=_default_cache_dir)
    socket: ConfigPath | None = None
    api: ApiConfig = ApiConfig()
    generation: GenerationConfig = GenerationConfig()
    watch: WatchConfig = WatchConfig()
    limits: LimitsConfig = LimitsConfig()
    publishing: PublishingConfig = PublishingConfig()
    cleanup: CleanupConfig = CleanupConfig()
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


def check_cloudinary_url(url: str, *, source: str = "publishing.cloudinary.url") -> None:
    """`cloudinary://KEY:SECRET@CLOUD`; the message never repeats the secret."""
    parts = urlsplit(url)
    if parts.scheme != "cloudinary" or not (parts.username and parts.password and parts.hostname):
        raise ConfigError(f"{source} must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME")


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
