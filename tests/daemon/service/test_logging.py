"""The daemon's log: one line per event, journald priorities, secrets never written."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.generation.models import LoadedModel
from daemon.service.logsetup import REDACTED, configure_logging, secrets_of
from gladtui.client import Client, ClientError
from gladtui.config import load_config
from tests.apidaemon import short_dir, wait_until
from tests.fakecloudinary import API_SECRET, FakeCloudinary
from tests.lorahelpers import write_tiny_lora

GLADTUI = Path(sys.executable).parent / "gladtui"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """The root logger configured as the daemon does, writing into a string."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("info", env={}, secrets=["hunter2"], stream=stream)
    yield stream, logging.getLogger("daemon.example")
    root.handlers[:], root.level = saved


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_multi_line_message_is_one_line(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, log = captured
    log.warning("first\nsecond\n\nthird")
    (line,) = lines(stream)
    assert line.endswith("WARNING daemon.example: first | second | third")


def test_an_exception_is_summarised_on_its_line(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, log = captured
    try:
        {}["missing"]
    except KeyError:
        log.exception("publish job %d failed unexpectedly", 7)
    (line,) = lines(stream)
    assert "ERROR daemon.example: publish job 7 failed unexpectedly [KeyError: 'missing']" in line
    assert "at test_logging.py:" in line and "Traceback" not in line


def test_debug_level_folds_the_whole_traceback_onto_the_line() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("debug", env={}, stream=stream)
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            logging.getLogger("x").exception("failed")
    finally:
        root.handlers[:], root.level = saved
    (line,) = lines(stream)
    assert "Traceback (most recent call last):" in line and "ValueError: bad | value" in line


def test_journald_gets_priorities_and_no_timestamps() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("debug", env={"JOURNAL_STREAM": "8:123"}, stream=stream)
        log = logging.getLogger("daemon.x")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")
    finally:
        root.handlers[:], root.level = saved
    assert lines(stream) == [
        "<7>DEBUG daemon.x: d",
        "<6>INFO daemon.x: i",
        "<4>WARNING daemon.x: w",
        "<3>ERROR daemon.x: e",
        "<2>CRITICAL daemon.x: c",
    ]


def test_secrets_are_redacted_wherever_they_appear(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, log = captured
    log.info("connecting with %s", "user:hunter2@host")
    try:
        raise RuntimeError("auth failed for hunter2")
    except RuntimeError:
        log.exception("upload")
    assert "hunter2" not in stream.getvalue()
    assert stream.getvalue().count(REDACTED) == 2


def test_secrets_of_the_config(tmp_path: Path) -> None:
    url = "cloudinary://1234:the-secret@cloud"
    config = load_config(None, env={"CLOUDINARY_URL": url, "HOME": str(tmp_path)})
    found = secrets_of(config, {"CLOUDINARY_URL": url, "AWS_SECRET_ACCESS_KEY": "aws-secret"})
    assert "the-secret" in found and url in found and "aws-secret" in found
    assert "1234" not in found  # the API key is an identifier, not a secret


@pytest.mark.parametrize(
    ("dsn", "password"),
    [
        ("postgresql://blog:pa%40ss-w0rd@db.internal/blog", "pa@ss-w0rd"),
        ("host=db.internal user=blog password=pl41n-secret dbname=blog", "pl41n-secret"),
        ("host=db user=blog password='qu0ted secret' dbname=blog", "qu0ted secret"),
        ("postgresql:///blog?host=/run/pg&password=in-query-7", "in-query-7"),
    ],
)
def test_the_posts_dsn_and_its_password_are_secrets(
    tmp_path: Path, dsn: str, password: str
) -> None:
    env = {"GLADTUI_POSTS_DSN": dsn, "GLADTUI_WEBHOOK_SECRET": "whsec-1", "HOME": str(tmp_path)}
    found = secrets_of(load_config(None, env=env), env)
    assert dsn in found and password in found and "whsec-1" in found
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    try:
        configure_logging("info", env={}, secrets=found, stream=stream)
        logging.getLogger("daemon.x").error("libpq said: password %s rejected", password)
    finally:
        root.handlers[:], root.level = saved
    assert password not in stream.getvalue() and REDACTED in stream.getvalue()


def status_of(client: Client, task_id: str) -> str | None:
    try:
        return client.task(task_id)["status"]
    except ClientError:  # not ingested yet
        return None


def test_a_daemon_publishing_through_failures_never_logs_the_secret() -> None:
    root = short_dir("gt-log-")
    with FakeCloudinary() as cdn:
        (root / "config.yaml").write_text(
            "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
            "socket: d.sock\ngeneration:\n  model: builtin:tiny-sdxl\n"
            "publishing:\n  publisher: cloudinary\n  retry_base_seconds: 0.1\n  grace_seconds: 0\n"
            f"  cloudinary:\n    upload_prefix: {cdn.prefix}\n"
        )
        (root / "drop").mkdir()
        (root / "drop" / "cake.yaml").write_text(
            "title: Cake\nprompt: a cake\nvariations: 1\nsteps: 1\nwidth: 64\nheight: 64\n"
        )
        cdn.fail(500, times=2)
        env = {**os.environ, "CLOUDINARY_URL": cdn.url, "JOURNAL_STREAM": "8:1"}
        env["TRANSFORMERS_VERBOSITY"] = "error"
        daemon = subprocess.Popen(
            [str(GLADTUI), "--config", str(root / "config.yaml"), "daemon", "--log-level", "debug"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            client = Client(root / "d.sock", timeout=5)
            wait_until(lambda: (root / "d.sock").exists(), timeout=60)
            wait_until(lambda: status_of(client, "cake") == "review", timeout=120)
            client.approve("cake", 1)
            wait_until(lambda: status_of(client, "cake") == "published", timeout=60)
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=60)
            subprocess.run(["rm", "-rf", str(root)], check=False)
    assert daemon.returncode == 0
    assert API_SECRET not in stderr
    logged = stderr.splitlines()
    assert logged and all(line[:3] in {"<7>", "<6>", "<4>", "<3>"} for line in logged), logged
    assert any("<4>" in line and "cake" in line and "500" in line for line in logged)
    assert any("published" in line and "cake" in line for line in logged)


@pytest.fixture
def libraries() -> Iterator[io.StringIO]:
    """The daemon's log format, with transformers' and diffusers' records routed to it."""
    from daemon.generation.librarylogs import route_library_logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("info", env={}, stream=stream)
    route_library_logs()
    yield stream
    logging.captureWarnings(False)
    root.handlers[:], root.level = saved


def test_library_warnings_come_through_the_log_format(libraries: io.StringIO) -> None:
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_warning()  # conftest quiets it to errors
    try:
        transformers_logging.get_logger("transformers.models.clip").warning("first\nsecond")
    finally:
        transformers_logging.set_verbosity(level)
    diffusers_logging.get_logger("diffusers.pipelines").warning("a diffusers warning")
    # pytest restores its own warning capture between a fixture and the test: route
    # warnings again, here, as configure_logging did for the daemon.
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(False)
        logging.captureWarnings(True)
        warnings.warn("deprecated thing", FutureWarning, stacklevel=1)
    found = lines(libraries)
    assert len(found) == 3, found
    assert found[0].endswith("WARNING transformers.models.clip: first | second")
    assert found[1].endswith("WARNING diffusers.pipelines: a diffusers warning")
    assert "WARNING py.warnings: " in found[2] and "FutureWarning: deprecated thing" in found[2]


def test_library_noise_is_dropped(libraries: io.StringIO) -> None:
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    clip = transformers_logging.get_logger("transformers.tokenization_utils_base")
    clip.warning(
        "Token indices sequence length is longer than the specified maximum sequence length "
        "for this model (157 > 77). Running this sequence through the model will result in "
        "indexing errors"
    )
    transformers_logging.get_logger("transformers.utils.import_utils").warning(
        "`CLIPImageProcessor` requires torchvision (not installed); falling back"
    )
    diffusers_logging.get_logger("diffusers.loaders.lora_base").warning(
        "No LoRA keys associated to CLIPTextModel found with the prefix='text_encoder'."
    )
    logging.getLogger("daemon.generation.prompts").warning("Token indices sequence length is ours")
    (line,) = lines(libraries)  # only ours: the same words from the daemon are kept
    assert line.endswith("WARNING daemon.generation.prompts: Token indices sequence length is ours")


def test_a_daemon_running_long_prompts_and_loras_writes_only_its_own_lines(
    tiny: LoadedModel,
) -> None:
    """As a user runs it (no TRANSFORMERS_VERBOSITY set): every line in the log format."""
    root = short_dir("gt-noise-")
    write_tiny_lora(tiny.pipeline.unet.config, root / "loras" / "style.safetensors", seed=3)
    (root / "config.yaml").write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        "socket: d.sock\ngeneration:\n  model: builtin:tiny-sdxl\n  lora_dir: loras\n"
        "  scheduler: dpmpp_2m_karras\n"
    )
    (root / "drop").mkdir()
    prompt = ", ".join(f"detail number {n}" for n in range(40))  # far past 77 tokens
    (root / "drop" / "long.yaml").write_text(
        f"title: Long\nprompt: {prompt}\nloras: {{style: 0.8}}\nvariations: 1\nsteps: 1\n"
        "width: 64\nheight: 64\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRANSFORMERS_VERBOSITY"}
    daemon = subprocess.Popen(
        [str(GLADTUI), "--config", str(root / "config.yaml"), "daemon"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = Client(root / "d.sock", timeout=5)
        wait_until(lambda: (root / "d.sock").exists(), timeout=60)
        wait_until(lambda: status_of(client, "long") in ("review", "failed"), timeout=180)
        assert status_of(client, "long") == "review"
    finally:
        daemon.send_signal(signal.SIGTERM)
        stdout, stderr = daemon.communicate(timeout=60)
        subprocess.run(["rm", "-rf", str(root)], check=False)
    assert daemon.returncode == 0
    assert stdout == ""
    logged = stderr.splitlines()
    form = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")
    assert logged and all(form.match(line) for line in logged), logged
    assert any("LoRA style loaded" in line for line in logged)
    assert any("prompt encoded whole in" in line for line in logged)
    assert not [
        line for line in logged if line.split(" ", 3)[3].startswith(("transformers", "diffusers"))
    ]
