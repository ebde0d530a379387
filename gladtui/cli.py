"""The `gladtui` command: one entry point for the TUI, the daemon and the CLI.

Exit codes (DESIGN.md "Command line"): 0 success, 1 the request was refused
(the reason on stderr), 2 usage error, 3 daemon not reachable.

Only argparse and the shared modules are imported at start, so `gladtui --help`
answers at once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gladtui import __version__

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

Handler = Callable[[argparse.Namespace], int]

# Commands of DESIGN.md that later work delivers; until then they say so.
NOT_BUILT: dict[str, str] = {
    "tui": "open the review TUI",
    "demo": "start a daemon with the tiny model and sample tasks, then the TUI",
    "tasks": "list tasks",
    "show": "one task with its variations",
    "generate": "more variations (optionally a new prompt)",
    "approve": "approve a variation and publish it",
    "reject": "reject a task; with a prompt, regenerate",
    "posts": "published posts",
    "status": "daemon health, queue, model, device",
    "service": "install the systemd unit",
}


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

    for name, summary in NOT_BUILT.items():
        sub = commands.add_parser(name, parents=[common], help=f"{summary} (not built yet)")
        sub.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        sub.set_defaults(handler=_not_built)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.command = "tui"
        args.handler = _not_built
    handler: Handler = args.handler
    from gladtui.config import ConfigError

    try:
        return handler(args)
    except ConfigError as exc:  # every command reads the config; one message for all
        print(f"gladtui: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _not_built(args: argparse.Namespace) -> int:
    print(f"gladtui {args.command}: not built yet in this version", file=sys.stderr)
    return EXIT_USAGE


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
        print(
            f"ok: {path}: task {task.id!r}, {task.variations} variation(s) of "
            f"{task.width}x{task.height}, {task.steps} steps: {task.title}"
        )
    return EXIT_REFUSED if refused else EXIT_OK


def _run_daemon(args: argparse.Namespace) -> int:
    # The one place gladtui imports daemon: the CLI starts it (DESIGN.md "Layout").
    from daemon.service import main as daemon_main
    from gladtui.config import load_config

    config = load_config(args.config)
    return daemon_main(config, log_level=args.log_level)


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


if __name__ == "__main__":
    sys.exit(main())
