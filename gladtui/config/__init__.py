"""The configuration: the pydantic models are the truth of every key.

`model` holds `Config`, its small sections and `load_config`; `generation` and
`publishing` their sections; `fields` what every section shares; `presets`
the preset and LoRA rules that task files share. Callers import from here.
"""

from gladtui.config.model import (
    APP_NAME,
    BUILTIN_MODEL_PREFIX,
    CONFIG_ENV,
    MAX_CONFIG_BYTES,
    ApiConfig,
    CloudinaryConfig,
    Config,
    ConfigError,
    GenerationConfig,
    LimitsConfig,
    PostgresPostsConfig,
    PresetConfig,
    PublishingConfig,
    RayConfig,
    S3Config,
    WebhookPostsConfig,
    check_cloudinary_url,
    default_config_file,
    expand_path,
    find_config_file,
    format_errors,
    load_config,
)

__all__ = [
    "APP_NAME",
    "BUILTIN_MODEL_PREFIX",
    "CONFIG_ENV",
    "MAX_CONFIG_BYTES",
    "ApiConfig",
    "CloudinaryConfig",
    "Config",
    "ConfigError",
    "GenerationConfig",
    "LimitsConfig",
    "PostgresPostsConfig",
    "PresetConfig",
    "PublishingConfig",
    "RayConfig",
    "S3Config",
    "WebhookPostsConfig",
    "check_cloudinary_url",
    "default_config_file",
    "expand_path",
    "find_config_file",
    "format_errors",
    "load_config",
]
