"""Configuration: real files, every refusal naming its file and key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from gladtui.config import Config, ConfigError, load_config
from tests.paths import CONFIGS, REPO
from tests.privileges import run_unprivileged

ROOT = REPO


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME with no XDG overrides, so defaults are predictable."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "GLADTUI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_defaults_without_any_file(home: Path) -> None:
    config = load_config(env={"HOME": str(home)})
    assert config.drop_dir == home / "gladtui" / "drop"
    assert config.preview_dir == home / "Downloads" / "glad-labs-generated-images"
    assert config.state_dir == home / ".local" / "share" / "gladtui"
    assert config.database_path == config.state_dir / "gladtui.duckdb"
    assert config.local_cdn_dir == config.state_dir / "cdn"
    assert config.generation.model == "stabilityai/stable-diffusion-xl-base-1.0"
    assert config.publishing.on_duplicate_slug == "suffix"


def test_good_file_resolves_relative_home_and_env_paths(home: Path, tmp_path: Path) -> None:
    env = {"HOME": str(home), "GLADTUI_TEST_STATE": str(tmp_path / "st")}
    config = load_config(CONFIGS / "good.yaml", env=env)
    assert config.drop_dir == CONFIGS / "drop"  # relative to the config file, not the cwd
    assert config.preview_dir == home / "previews"
    assert config.state_dir == tmp_path / "st" / "state"
    assert config.socket_path() == tmp_path / "st" / "api.sock"
    assert config.generation.guidance_scale == 5.0
    assert config.generation.steps == 4
    assert config.publishing.on_duplicate_slug == "skip"
    assert config.publishing.local.base_url == "https://cdn.example.com/img"


def test_root_config_yaml_states_exactly_the_defaults(home: Path) -> None:
    documented = load_config(ROOT / "config.yaml")
    assert documented.model_dump() == load_config().model_dump()


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def _yaml_keys(data: dict[str, Any], model: type[BaseModel], prefix: str = "") -> set[str]:
    """The keys of a config file, down to the model's own fields: a mapping that is one
    setting (generation.presets, generation.loras) is one key, as in `_keys`."""
    keys = set()
    for name, value in data.items():
        annotation = model.model_fields[name].annotation if name in model.model_fields else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _yaml_keys(value, annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_root_config_yaml_documents_every_key() -> None:
    documented = _yaml_keys(yaml.safe_load((ROOT / "config.yaml").read_text()), Config)
    assert documented == _keys(Config)


def test_docs_reference_table_has_a_row_for_every_key() -> None:
    section = (ROOT / "docs" / "configuration.md").read_text()
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    in_table = {key for row in rows for key in re.findall(r"`([a-z0-9_.]+)`", row.split("|")[1])}
    assert in_table == _keys(Config)


BAD = {
    "unknown_key.yaml": "generation.stepz: unknown key (did you mean 'steps'?)",
    "unknown_top_key.yaml": "drop_dirr: unknown key (did you mean 'drop_dir'?)",
    "wrong_type.yaml": "generation.steps: expected an integer, got text 'thirty'",
    "quoted_number.yaml": "generation.steps: expected an integer, got text '30'",
    "bool_as_text.yaml": "generation.allow_download: expected true or false, got text 'yes'",
    "bad_choice.yaml": "generation.device: 'auto', 'cuda', 'mps' or 'cpu', got 'gpu'",
    "section_not_mapping.yaml": "generation: expected a mapping of settings, got an integer",
    "width_not_multiple_of_8.yaml": "generation.width: input should be a multiple of 8",
    "width_above_limit.yaml": "generation.width is 4096, outside 64..2048",
    "not_yaml.yaml": "not valid YAML: line 3, column 1",
    "empty.yaml": "config file is empty",
    "only_comment.yaml": "config file is empty",
    "top_level_list.yaml": "expected a mapping of settings, got a list",
    "unset_env_var.yaml": "drop_dir: environment variable $GLADTUI_SURELY_UNSET_VAR is not set",
    "bad_cloudinary_url.yaml": "must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME",
    "bad_publisher.yaml": (
        "publishing.publisher: 'local', 'cloudinary', 's3' or 'wordpress', got 's4'"
    ),
    "s3_without_bucket.yaml": "publishing.s3.bucket is required when publishing.publisher is s3",
    "s3_endpoint_not_url.yaml": "publishing.s3.endpoint_url must be an http(s) URL",
    "bad_posts_to.yaml": (
        "publishing.posts.to: 'local', 'postgres', 'markdown', 'webhook' or 'wordpress', got "
        "'ghost'"
    ),
    "wordpress_without_user.yaml": (
        "publishing.posts.wordpress.user is required when publishing.posts.to is wordpress"
    ),
    "wordpress_posts_cloudinary_images.yaml": (
        "publishing.posts.to is wordpress, so publishing.publisher must be wordpress: a "
        "WordPress post's featured image is an attachment in the site's own media library"
    ),
    "wordpress_password_in_file.yaml": (
        "the WordPress password is never read from the config file: set GLADTUI_WORDPRESS_PASSWORD"
    ),
    "markdown_without_dir.yaml": (
        "publishing.posts.markdown.dir is required when publishing.posts.to is markdown"
    ),
    "webhook_without_url.yaml": (
        "publishing.posts.webhook.url is required when publishing.posts.to is webhook"
    ),
    "webhook_url_not_http.yaml": "publishing.posts.webhook.url must be an http(s) URL",
    "postgres_bad_table.yaml": (
        "publishing.posts.postgres.table: 'posts; DROP TABLE posts' is not a table name"
    ),
    "postgres_bad_column.yaml": (
        "publishing.posts.postgres.columns.slug: 'my slug' is not a column name"
    ),
    "postgres_dsn_in_file.yaml": (
        "publishing.posts.postgres: the posts database's connection is never read from the "
        "config file"
    ),
    "reserve_not_below_max.yaml": (
        "api.reserved_connections (16) must be less than api.max_connections (16)"
    ),
    "reason_key_is_the_dialogs.yaml": (
        "review.reject_reasons.again.key: key 'a' is the reject dialog's own (again); choose "
        "another"
    ),
    "reason_keys_clash.yaml": (
        "review.reject_reasons: reasons 'hands' and 'hair' both use the key 'h'"
    ),
    "reason_unknown_field.yaml": "review.reject_reasons.hands.negative: unknown key",
    "reason_key_two_letters.yaml": (
        "review.reject_reasons.hands.key: key 'hh' must be one lower-case letter or digit"
    ),
    "duplicate_key.yaml": "duplicate key 'drop_dir'",
    "alias.yaml": "aliases (*name) are not allowed",
    "not_utf8.yaml": "not UTF-8 text",
}


def test_every_bad_config_has_a_case() -> None:
    assert {p.name for p in (CONFIGS / "bad").iterdir()} == set(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_config_is_refused_with_file_and_key(name: str, home: Path) -> None:
    path = CONFIGS / "bad" / name
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={"HOME": str(home)})
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert BAD[name] in message


@pytest.mark.parametrize("name", ["bad_cloudinary_url.yaml", "postgres_dsn_in_file.yaml"])
def test_secret_never_repeated_in_errors(home: Path, name: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(CONFIGS / "bad" / name)
    assert "hunter2secret" not in str(refused.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_unreadable_file(open_dir: Path) -> None:
    readable, unreadable = open_dir / "ok.yaml", open_dir / "secret.yaml"
    for path in (readable, unreadable):
        path.write_text("drop_dir: /x\n")
    unreadable.chmod(0)
    # The same user reads its neighbour, so the refusal is about the file's mode.
    assert run_unprivileged(lambda: load_config(readable, env={})).drop_dir == Path("/x")
    with pytest.raises(ConfigError, match="cannot read config file: Permission denied"):
        run_unprivileged(lambda: load_config(unreadable, env={}))


def test_precedence_explicit_then_env_then_xdg_then_defaults(home: Path, tmp_path: Path) -> None:
    def write(name: str, drop: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"drop_dir: {drop}\n")
        return path

    explicit = write("explicit.yaml", "/from/explicit")
    from_env = write("env.yaml", "/from/env")
    write("xdg/gladtui/config.yaml", "/from/xdg")
    env = {"HOME": str(home), "GLADTUI_CONFIG": str(from_env)}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")

    assert load_config(explicit, env=env).drop_dir == Path("/from/explicit")
    assert load_config(None, env=env).drop_dir == Path("/from/env")
    del env["GLADTUI_CONFIG"]
    assert load_config(None, env=env).drop_dir == Path("/from/xdg")
    del env["XDG_CONFIG_HOME"]
    assert load_config(None, env=env).drop_dir == home / "gladtui" / "drop"


def test_gladtui_config_env_pointing_nowhere_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(None, env={"GLADTUI_CONFIG": str(tmp_path / "missing.yaml")})


def test_cloudinary_credentials_from_config_or_environment(tmp_path: Path) -> None:
    url = "cloudinary://123:abcsecret@demo-cloud"
    assert load_config(env={"CLOUDINARY_URL": url}).cloudinary_url() == url
    assert load_config(env={}).cloudinary_url() is None

    path = tmp_path / "c.yaml"
    path.write_text(f"publishing:\n  cloudinary:\n    url: {url}\n")
    config = load_config(path, env={"CLOUDINARY_URL": "cloudinary://9:9@other"})
    assert config.cloudinary_url() == url  # the config file wins over the environment
    assert "abcsecret" not in repr(config)  # SecretStr keeps it out of reprs and logs
    assert "abcsecret" not in config.model_dump_json()


def test_malformed_cloudinary_env_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\$CLOUDINARY_URL must look like") as refused:
        load_config(env={"CLOUDINARY_URL": "https://key:hunter2secret@nope"})
    assert "hunter2secret" not in str(refused.value)


def test_socket_defaults_to_runtime_dir_then_temp(home: Path) -> None:
    config = load_config(env={})
    assert config.socket_path({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path(
        "/run/user/7/gladtui/daemon.sock"
    )
    fallback = config.socket_path({})
    assert fallback.name == "daemon.sock"
    assert fallback.parent.name == f"gladtui-{os.getuid()}"


def test_model_paths_resolved_but_repo_ids_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    for given, expected in [
        ("./models/sdxl", str(tmp_path / "models" / "sdxl")),
        ("weights/sdxl.safetensors", str(tmp_path / "weights" / "sdxl.safetensors")),
        ("builtin:tiny-sdxl", "builtin:tiny-sdxl"),
        ("stabilityai/stable-diffusion-xl-base-1.0", "stabilityai/stable-diffusion-xl-base-1.0"),
    ]:
        path.write_text(f"generation:\n  model: {given}\n")
        assert load_config(path, env={}).generation.model == expected


def test_task_rules_follow_config_limits(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "generation:\n  width: 4096\nlimits:\n  max_width: 4096\n  max_variations: 40\n"
    )
    rules = load_config(path, env={}).task_rules()
    assert rules.width == 4096
    assert rules.max_width == 4096
    assert rules.max_variations == 40
