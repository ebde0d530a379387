"""The configuration: the pydantic models are the truth of every key.

`model` holds `Config`, its small sections and `load_config`; `generation` and
`publishing` their sections; `fields` what every section shares; `presets`
the preset and LoRA rules that task files share. Callers import from here.
"""

from gladtui.config.fields import BUILTIN_MODEL_PREFIX, ConfigError, expand_path
from gladtui.config.generation import GenerationConfig, PresetConfig, RayConfig
from gladtui.config.model import (
    APP_NAME,
    CONFIG_ENV,
    MAX_CONFIG_BYTES,
    ApiConfig,
    Config,
    LimitsConfig,
    default_config_file,
    find_config_file,
    format_errors,
    load_config,
)
from gladtui.config.publishing import (
    IMAGE_FORMATS,
    CloudinaryConfig,
    MarkdownPostsConfig,
    PostgresPostsConfig,
    PublishingConfig,
    S3Config,
    WebhookPostsConfig,
    WordPressPostsConfig,
    check_cloudinary_url,
)

__all__ = [
    "APP_NAME",
    "BUILTIN_MODEL_PREFIX",
    "CONFIG_ENV",
    "IMAGE_FORMATS",
    "MAX_CONFIG_BYTES",
    "ApiConfig",
    "CloudinaryConfig",
    "Config",
    "ConfigError",
    "GenerationConfig",
    "LimitsConfig",
    "MarkdownPostsConfig",
    "PostgresPostsConfig",
    "PresetConfig",
    "PublishingConfig",
    "RayConfig",
    "S3Config",
    "WebhookPostsConfig",
    "WordPressPostsConfig",
    "check_cloudinary_url",
    "default_config_file",
    "expand_path",
    "find_config_file",
    "format_errors",
    "load_config",
]
