"""The `gladtui` command: one entry point for the TUI, the daemon and the CLI.

Exit codes: gladtui/cli/exits.py.

Only argparse and the shared modules are imported at start, so `gladtui --help`
answers at once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gladtui import __version__
from gladtui.cli.exits import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandFailed,
    daemon_socket,
)

Handler = Callable[[argparse.Namespace], int]

# Why a command cannot run against a daemon elsewhere (the others can: `over_ssh`).
LOCAL_ONLY = {
    "check": "checks task files against this machine's config",
    "config": "prints this machine's config",
    "daemon": "runs the daemon on this machine",
    "demo": "runs a daemon of its own on this machine",
    "service": "installs the service on this machine",
}


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=default,
        help="config file (else $GLADTUI_CONFIG, else ~/.config/gladtui/config.yaml)",
    )
    parser.add_argument(
        "--ssh",
        type=_ssh_target,
        metavar="[USER@]HOST[:PORT]",
        default=default,
        help="talk to the daemon on HOST through an ssh-forwarded socket "
        "(ssh from $GLADTUI_SSH_COMMAND, else `ssh`)",
    )
    parser.add_argument(
        "--remote-socket",
        metavar="PATH",
        default=default,
        help="with --ssh: the daemon's socket on HOST (else found there)",
    )


def _ssh_target(text: str) -> object:
    from gladtui.sshforward import parse_target

    try:
        return parse_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gladtui", description="Review station for AI-generated featured images."
    )
    _add_global_options(parser, default=None)
    # `--config` and `--ssh` are accepted before or after the command. SUPPRESS keeps
    # a subcommand without them from overwriting the values given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, default=argparse.SUPPRESS)
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
    submit.set_defaults(handler=_run_submit, over_ssh=True)

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
    tui.set_defaults(handler=_run_tui, over_ssh=True)

    _add_demo_command(commands)
    _add_service_command(commands, common)
    from gladtui.cli.clientcommands import add_client_commands

    add_client_commands(commands, common)
    from gladtui.web.command import add_web_command

    add_web_command(commands, common)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.command = "tui"
        args.handler = _run_tui
        args.over_ssh = True
    _check_ssh_usage(parser, args)
    handler: Handler = args.handler
    from gladtui.config import ConfigError

    try:
        return handler(args)
    except ConfigError as exc:  # every command reads the config; one message for all
        print(f"gladtui: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except CommandFailed as exc:
        print(f"gladtui: {exc}", file=sys.stderr)
        return exc.code


def _check_ssh_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--ssh only with the commands that ask a daemon; --remote-socket only with --ssh."""
    if args.remote_socket is not None and args.ssh is None:
        parser.error("--remote-socket goes with --ssh HOST (it names the socket on HOST)")
    if args.ssh is not None and not getattr(args, "over_ssh", False):
        why = LOCAL_ONLY.get(args.command, "works on this machine only")
        parser.error(
            f"--ssh cannot be used with `{args.command}`: it {why}; "
            f"run it on {args.ssh.host} itself"
        )


def _run_demo(args: argparse.Namespace) -> int:
    from gladtui.cli.demo import run_demo

    return run_demo(keep=args.keep, headless=args.headless)


def _run_service(args: argparse.Namespace) -> int:
    from gladtui.systemd.install import run_service_command

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
    # The one place gladtui imports daemon: the CLI starts it (docs/architecture.md).
    import logging
    import os

    from daemon.service.process import main as daemon_main
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
    from gladtui.tui import run  # Textual and textual-image only now (before ssh may prompt)

    with daemon_socket(args) as forwarded:
        socket, remote = forwarded or (None, None)
        run(config, socket_path=socket, remote=remote)
    return EXIT_OK


def _run_submit(args: argparse.Namespace) -> int:
    from gladtui.cli.submit import submit_file
    from gladtui.config import load_config
    from gladtui.taskfile import TaskFileError

    if args.ssh is not None:
        return _submit_over_ssh(args)
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


def _submit_over_ssh(args: argparse.Namespace) -> int:
    """Each file's bytes through the API: the far daemon validates them by its own rules."""
    from gladtui.client import ApiError, Client, DaemonUnreachable

    refused = 0
    with daemon_socket(args) as forwarded:
        assert forwarded is not None
        client = Client(forwarded[0], remote=forwarded[1])
        for path in args.files:
            try:
                answer = client.submit(path.read_bytes(), path.name)
            except OSError as exc:
                refused += 1
                print(f"refused: {path}: cannot read it: {exc.strerror}", file=sys.stderr)
                continue
            except ApiError as exc:
                refused += 1
                print(f"refused: {path}: {exc}", file=sys.stderr)
                continue
            except DaemonUnreachable as exc:
                raise CommandFailed(str(exc), EXIT_UNREACHABLE) from None
            print(f"submitted: {path} -> {args.ssh} ({answer['message']})")
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
