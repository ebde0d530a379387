"""The `gladtui` command: one entry point for the TUI, the daemon and the CLI.

Exit codes (DESIGN.md "Command line"): 0 success, 1 the request was refused
(the reason on stderr), 2 usage error, 3 daemon not reachable.

Only argparse and the shared modules are imported at start, so `gladtui --help`
answers at once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gladtui import __version__

if TYPE_CHECKING:
    from gladtui.client import Client
    from gladtui.shapes import ActionJSON

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

Handler = Callable[[argparse.Namespace], int]
Caller = Callable[["Client", argparse.Namespace], None]

MAX_PAGE = 100_000  # the most the daemon sends in one page (gladtui.client.MAX_PAGE)
PUBLISH_WAIT_SECONDS = 5.0  # `approve` waits this long at most for the post's URL


def _add_config_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=default,
        help="config file (else $GLADTUI_CONFIG, else ~/.config/gladtui/config.yaml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gladtui", description="Review station for AI-generated featured images."
    )
    _add_config_option(parser, default=None)
    # `--config` is accepted before or after the command. SUPPRESS keeps a
    # subcommand without it from overwriting the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_config_option(common, default=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"gladtui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check", parents=[common], help="validate task files without submitting them"
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(handler=_run_check)

    submit = commands.add_parser(
        "submit",
        parents=[common],
        help="validate task files and place them in the drop folder",
        description="Validate each file exactly as the daemon will, then place it in the "
        "drop folder atomically. An invalid file is reported and not placed.",
    )
    submit.add_argument("files", nargs="+", type=Path, metavar="FILE")
    submit.set_defaults(handler=_run_submit)

    run_daemon = commands.add_parser(
        "daemon",
        parents=[common],
        help="run the daemon in the foreground (what the service runs)",
        description="Watch the drop folder and own the database until SIGTERM or SIGINT.",
    )
    run_daemon.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log (default: info)",
    )
    run_daemon.set_defaults(handler=_run_daemon)

    show_config = commands.add_parser(
        "config", parents=[common], help="print the configuration in effect (secrets hidden)"
    )
    show_config.set_defaults(handler=_run_config)

    tui = commands.add_parser(
        "tui",
        parents=[common],
        help="open the review TUI (also what `gladtui` alone does)",
        description="Review tasks: the keyboard-driven TUI. It needs a running daemon.",
    )
    tui.set_defaults(handler=_run_tui)

    _add_demo_command(commands)
    _add_service_command(commands, common)
    _add_client_commands(commands, common)
    return parser


def _add_demo_command(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="try gladtui: a daemon on the tiny model, sample tasks, then the TUI",
        description="Start a daemon with the tiny built-in model in a temporary workspace, "
        "submit the sample tasks (one deliberately invalid), open the TUI, and remove "
        "everything when the TUI exits.",
    )
    demo.add_argument("--keep", action="store_true", help="keep the workspace at exit")
    demo.add_argument(
        "--headless",
        action="store_true",
        help="no TUI: wait until the samples are ready for review, print them, exit",
    )
    demo.set_defaults(handler=_run_demo)


def _add_service_command(commands: Any, common: argparse.ArgumentParser) -> None:
    service = commands.add_parser(
        "service", help="run the daemon as a systemd service", description="systemd units."
    )
    actions = service.add_subparsers(dest="action", metavar="{install,uninstall}", required=True)
    for name, summary in [
        ("install", "write the unit for this installation, reload systemd, enable and start it"),
        ("uninstall", "stop and disable the unit and remove its file"),
    ]:
        sub = actions.add_parser(name, parents=[common], help=summary, description=summary)
        sub.add_argument(
            "--system",
            action="store_true",
            help="a system service run by a dedicated user (needs root); default: a user unit",
        )
        sub.set_defaults(handler=_run_service)
    install = actions.choices["install"]
    install.add_argument(
        "--print", action="store_true", help="print the unit instead of installing it"
    )


def _add_client_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The commands that ask the daemon, each a `_call_*` run by `_run_client`."""

    def add(name: str, call: Caller, summary: str, task: bool = True) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, parents=[common], help=summary, description=f"{summary[0].upper()}{summary[1:]}."
        )
        if task:
            sub.add_argument("task", metavar="TASK", help="the task's id")
        sub.add_argument("--json", action="store_true", help="print the API's JSON")
        sub.set_defaults(handler=_run_client, call=call)
        return sub

    tasks = add("tasks", _call_tasks, "list tasks, newest first", task=False)
    tasks.add_argument(
        "--status",
        action="append",
        type=_statuses,
        metavar="S[,S…]",
        help="only these statuses (comma list; may repeat)",
    )
    tasks.add_argument("--search", metavar="TEXT", help="only titles containing TEXT")
    tasks.add_argument(
        "--limit", type=_int_in(1, MAX_PAGE), metavar="N", help=f"at most N (default {MAX_PAGE})"
    )
    tasks.add_argument("--offset", type=_int_in(0), default=0, metavar="N", help="skip N first")

    show = add("show", _call_show, "one task with its variations")
    show.add_argument(
        "--watch", action="store_true", help="print progress lines until it stops generating"
    )

    generate = add("generate", _call_generate, "more variations (optionally a new prompt)")
    generate.add_argument("--count", type=_int_in(1), metavar="N", help="how many more")
    generate.add_argument("--prompt", metavar="P", help="a new prompt for them")
    generate.add_argument("--steps", type=_int_in(1), metavar="N", help="denoising steps")
    generate.add_argument(
        "--preset", metavar="NAME", help="render them with this preset (generation.presets)"
    )
    generate.add_argument(
        "--from-variation",
        type=_int_in(1),
        metavar="N",
        help="re-render variation N's seed as one new variation (draft, then final)",
    )

    approve = add("approve", _call_approve, "approve variation N and publish it")
    approve.add_argument("--variation", type=_int_in(1), required=True, metavar="N")

    reject = add("reject", _call_reject, "reject a task; with a prompt, regenerate")
    reject.add_argument("--prompt", metavar="P", help="regenerate with this prompt")
    reject.add_argument(
        "--keep-files", action="store_true", help="keep the variations' files on disk"
    )

    add("cancel", _call_cancel, "cancel a task's queued or running generation")
    add("undo", _call_undo, "take back an approval or rejection during its grace period")

    posts = add("posts", _call_posts, "published posts, newest first", task=False)
    posts.add_argument(
        "--limit", type=_int_in(1, MAX_PAGE), metavar="N", help=f"at most N (default {MAX_PAGE})"
    )
    posts.add_argument("--offset", type=_int_in(0), default=0, metavar="N", help="skip N first")

    add("status", _call_status, "daemon health, queue, model, device", task=False)


def _statuses(text: str) -> list[str]:
    from gladtui.shapes import TaskStatus

    known = [str(status) for status in TaskStatus]
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known] or ([] if names else [repr(text)])
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown status {', '.join(unknown)}; valid: {', '.join(known)}"
        )
    return names


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.command = "tui"
        args.handler = _run_tui
    handler: Handler = args.handler
    from gladtui.config import ConfigError

    try:
        return handler(args)
    except ConfigError as exc:  # every command reads the config; one message for all
        print(f"gladtui: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _run_demo(args: argparse.Namespace) -> int:
    from gladtui.demo import run_demo

    return run_demo(keep=args.keep, headless=args.headless)


def _run_service(args: argparse.Namespace) -> int:
    # The CLI installs the daemon's unit: the same exception as `gladtui daemon`.
    from daemon.systemd.install import run_service_command

    return run_service_command(args)


def _run_check(args: argparse.Namespace) -> int:
    from gladtui.config import load_config
    from gladtui.taskfile import TaskFileError, read_task_file

    rules = load_config(args.config).task_rules()
    refused = 0
    for path in args.files:
        try:
            task = read_task_file(path, rules=rules).spec
        except TaskFileError as exc:
            refused += 1
            print(f"refused: {exc}", file=sys.stderr)
            continue
        recipe = [f"{task.steps} steps", f"guidance {task.guidance_scale:g}"]
        recipe += [f"sampler {task.scheduler}"] if task.scheduler else []
        recipe += [f"preset {task.preset}"] if task.preset else []
        recipe += [f"LoRA {name} {weight:g}" for name, weight in task.loras.items()]
        print(
            f"ok: {path}: task {task.id!r}, {task.variations} variation(s) of "
            f"{task.width}x{task.height}, {', '.join(recipe)}: {task.title}"
        )
    return EXIT_REFUSED if refused else EXIT_OK


def _run_daemon(args: argparse.Namespace) -> int:
    # The one place gladtui imports daemon: the CLI starts it (DESIGN.md "Layout").
    import logging
    import os

    from daemon.service import main as daemon_main
    from gladtui.config import load_config

    config = load_config(args.config)
    code = daemon_main(config, log_level=args.log_level)
    # Everything is closed and flushed by now. Skip the interpreter's teardown:
    # with torch loaded it leaves DuckDB's module alive, and nanobind then prints
    # a page of "leaked instance" warnings into the journal on every stop.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_tui(args: argparse.Namespace) -> int:
    from gladtui.config import load_config

    config = load_config(args.config)
    if not sys.stdout.isatty():
        print("gladtui tui: needs a terminal; for scripts, see `gladtui tasks`", file=sys.stderr)
        return EXIT_USAGE
    from gladtui.tui import run  # Textual and textual-image only now

    run(config)
    return EXIT_OK


def _run_submit(args: argparse.Namespace) -> int:
    from gladtui.config import load_config
    from gladtui.submit import submit_file
    from gladtui.taskfile import TaskFileError

    config = load_config(args.config)
    refused = 0
    for path in args.files:
        try:
            placed = submit_file(path, config.drop_dir, rules=config.task_rules())
        except TaskFileError as exc:
            refused += 1
            print(f"refused: {exc}", file=sys.stderr)
            continue
        except OSError as exc:
            refused += 1
            print(f"gladtui: cannot place {path} in {config.drop_dir}: {exc}", file=sys.stderr)
            continue
        print(f"submitted: {path} -> {placed.destination} (task {placed.task.spec.id!r})")
    return EXIT_REFUSED if refused else EXIT_OK


def _run_config(args: argparse.Namespace) -> int:
    import yaml

    from gladtui.config import load_config

    config = load_config(args.config)
    # mode="json" renders SecretStr as '**********', so credentials never print.
    print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), end="")
    return EXIT_OK


def _run_client(args: argparse.Namespace) -> int:
    """Run a `_call_*` against the daemon; its failures become exit codes 1 and 3."""
    from gladtui.client import ClientError, DaemonUnreachable, client_for
    from gladtui.config import load_config

    client = client_for(load_config(args.config))
    call: Caller = args.call
    try:
        call(client, args)
        sys.stdout.flush()  # here, so a closed pipe is caught below
    except DaemonUnreachable as exc:
        print(f"gladtui: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ClientError as exc:  # ApiError: the daemon refused, and said why
        print(f"gladtui: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:  # `gladtui tasks | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _output(data: Any, args: argparse.Namespace, human: Callable[[Any], str]) -> None:
    """The API's JSON with `--json`, else the human form of it."""
    if args.json:
        import json

        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(human(data))


def _width() -> int:
    """The terminal's width; unlimited when the output goes to a pipe or a file."""
    import shutil

    return shutil.get_terminal_size().columns if sys.stdout.isatty() else 1 << 20


def _call_tasks(client: Client, args: argparse.Namespace) -> None:
    statuses = [name for group in args.status or [] for name in group]
    limit = args.limit or MAX_PAGE
    if args.json:  # the body as the daemon sent it: no decoding 10,000 tasks to re-encode them
        sys.stdout.buffer.write(client.tasks_raw(statuses, args.search, limit, args.offset))
        sys.stdout.buffer.write(b"\n")
        return
    from datetime import UTC, datetime

    from gladtui.cliformat import format_tasks, paging_note

    page = client.tasks(statuses, args.search, limit, args.offset)
    print(format_tasks(page, datetime.now(UTC), _width()))
    note = paging_note(len(page["tasks"]), page["total"], args.offset, "tasks", "tasks")
    if note:
        print(note, file=sys.stderr)


def _call_show(client: Client, args: argparse.Namespace) -> None:
    from gladtui.cliformat import format_task

    if args.watch:
        from gladtui.watchtask import watch_task

        watch_task(client, args.task, as_json=args.json)
        return

    task = client.task(args.task)
    _output(task, args, format_task)


def _call_posts(client: Client, args: argparse.Namespace) -> None:
    from gladtui.cliformat import format_posts, paging_note

    page = client.posts(args.limit or MAX_PAGE, args.offset)
    _output(page, args, format_posts)
    if args.json:
        return
    note = paging_note(len(page["posts"]), page["total"], args.offset, "posts", "posts")
    if note:
        print(note, file=sys.stderr)


def _call_status(client: Client, args: argparse.Namespace) -> None:
    from gladtui.cliformat import format_status
    from gladtui.config import load_config
    from gladtui.pictureprotocol import choose

    _output(client.status(), args, format_status)
    if not args.json:  # this terminal's, not the daemon's: not part of the API's JSON
        print(f"pictures: {choose(load_config(args.config).tui.pictures).describe()}")


def _call_generate(client: Client, args: argparse.Namespace) -> None:
    answer = client.generate(
        args.task,
        args.count,
        args.prompt,
        args.steps,
        preset=args.preset,
        from_variation=args.from_variation,
    )
    _print_action(answer, args)


def _call_approve(client: Client, args: argparse.Namespace) -> None:
    """Approve; then the slug, and the URL once published (waiting a few seconds at most)."""
    answer = client.approve(args.task, args.variation)
    if args.json:
        _output(answer, args, str)
        return
    from gladtui.cliformat import format_approval

    task = answer["task"]
    deadline = time.monotonic() + PUBLISH_WAIT_SECONDS
    while task["status"] in ("approved", "publishing") and not task["undo_until"]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
        task = client.task(task["id"])
    print(answer["message"])
    print(format_approval(task))


def _call_undo(client: Client, args: argparse.Namespace) -> None:
    _print_action(client.undo(args.task), args)


def _call_reject(client: Client, args: argparse.Namespace) -> None:
    _print_action(client.reject(args.task, args.prompt, args.keep_files), args)


def _call_cancel(client: Client, args: argparse.Namespace) -> None:
    _print_action(client.cancel(args.task), args)


def _print_action(action: ActionJSON, args: argparse.Namespace) -> None:
    from gladtui.cliformat import format_action

    _output(action, args, format_action)


if __name__ == "__main__":
    sys.exit(main())
