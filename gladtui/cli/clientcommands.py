"""The commands that ask the daemon (`tasks`, `show`, `approve`, …): their options,
their calls through `gladtui.client`, and their output.

Each command is a `_call_*` run by `run_client`, which turns the client's
failures into the exit codes of gladtui/cli/main.py. Imported when the parser is
built: only argparse and the standard library at the top, the rest lazily.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gladtui.cli.exits import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, daemon_socket
from gladtui.shapes import MAX_PAGE, TaskStatus  # the daemon's largest page

if TYPE_CHECKING:
    from gladtui.client import Client
    from gladtui.shapes import ActionJSON

Caller = Callable[["Client", argparse.Namespace], None]

PUBLISH_WAIT_SECONDS = 5.0  # `approve` waits this long at most for the post's URL


def add_client_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The commands that ask the daemon, each a `_call_*` run by `_run_client`."""

    def add(name: str, call: Caller, summary: str, task: bool = True) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, parents=[common], help=summary, description=f"{summary[0].upper()}{summary[1:]}."
        )
        if task:
            sub.add_argument("task", metavar="TASK", help="the task's id")
        sub.add_argument("--json", action="store_true", help="print the API's JSON")
        sub.set_defaults(handler=run_client, call=call, over_ssh=True)
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
    again = reject.add_mutually_exclusive_group()
    again.add_argument("--prompt", metavar="P", help="regenerate with this prompt")
    again.add_argument(
        "--again", action="store_true", help="regenerate with the same prompt (and the reasons)"
    )
    reject.add_argument(
        "--reason",
        action="append",
        default=[],
        metavar="NAME",
        help="why (review.reject_reasons; repeat for more); its words are added to the new round",
    )
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

    from gladtui.cli.stats import add_stats_command

    add_stats_command(add)


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


def run_client(args: argparse.Namespace) -> int:
    """Run a `_call_*` against the daemon; its failures become exit codes 1 and 3.

    With --ssh, against the forwarded socket: no local config is read or needed.
    """
    from gladtui.client import Client, ClientError, DaemonUnreachable, client_for
    from gladtui.config import load_config

    call: Caller = args.call
    try:
        with daemon_socket(args) as forwarded:
            if forwarded is not None:
                client = Client(forwarded[0], remote=forwarded[1])
            else:
                client = client_for(load_config(args.config))
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

    from gladtui.cli.cliformat import format_tasks, paging_note

    page = client.tasks(statuses, args.search, limit, args.offset)
    print(format_tasks(page, datetime.now(UTC), _width()))
    note = paging_note(len(page["tasks"]), page["total"], args.offset, "tasks", "tasks")
    if note:
        print(note, file=sys.stderr)


def _call_show(client: Client, args: argparse.Namespace) -> None:
    from gladtui.cli.cliformat import format_task

    if args.watch:
        from gladtui.cli.watchtask import watch_task

        watch_task(client, args.task, as_json=args.json)
        return
    task = client.task(args.task)
    _output(task, args, format_task)


def _call_posts(client: Client, args: argparse.Namespace) -> None:
    from gladtui.cli.cliformat import format_posts, paging_note

    page = client.posts(args.limit or MAX_PAGE, args.offset)
    _output(page, args, format_posts)
    if args.json:
        return
    note = paging_note(len(page["posts"]), page["total"], args.offset, "posts", "posts")
    if note:
        print(note, file=sys.stderr)


def _call_status(client: Client, args: argparse.Namespace) -> None:
    from gladtui.cli.cliformat import format_status
    from gladtui.config import load_config
    from gladtui.pictureprotocol import choose

    _output(client.status(), args, format_status)
    if not args.json:  # this terminal's, not the daemon's: not part of the API's JSON
        choice = choose(load_config(args.config).tui.pictures)
        print(f"pictures: {choice.describe()}")
        print(f"cells:    {choice.describe_cells()}")
        if choice.protocol == "halfblocks":  # no real pixels here: the browser has them
            print("browser:  `gladtui web` reviews in a browser tab at full resolution")


def _call_generate(client: Client, args: argparse.Namespace) -> None:
    from gladtui.shapes import GenerateRequest

    asked = GenerateRequest(
        count=args.count,
        prompt=args.prompt,
        steps=args.steps,
        preset=args.preset,
        from_variation=args.from_variation,
    )
    answer = client.generate(args.task, asked)
    _print_action(answer, args)


def _call_approve(client: Client, args: argparse.Namespace) -> None:
    """Approve; then the slug, and the URL once published (waiting a few seconds at most)."""
    answer = client.approve(args.task, args.variation)
    if args.json:
        _output(answer, args, str)
        return
    from gladtui.cli.cliformat import format_approval

    task = answer["task"]
    deadline = time.monotonic() + PUBLISH_WAIT_SECONDS
    while task["status"] in (TaskStatus.APPROVED, TaskStatus.PUBLISHING) and not task["undo_until"]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
        task = client.task(task["id"])
    print(answer["message"])
    print(format_approval(task))


def _call_undo(client: Client, args: argparse.Namespace) -> None:
    _print_action(client.undo(args.task), args)


def _call_reject(client: Client, args: argparse.Namespace) -> None:
    answer = client.reject(
        args.task, args.prompt, args.keep_files, again=args.again, reasons=args.reason
    )
    _print_action(answer, args)


def _call_cancel(client: Client, args: argparse.Namespace) -> None:
    _print_action(client.cancel(args.task), args)


def _print_action(action: ActionJSON, args: argparse.Namespace) -> None:
    from gladtui.cli.cliformat import format_action

    _output(action, args, format_action)
