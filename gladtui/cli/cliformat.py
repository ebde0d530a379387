"""What the CLI prints without `--json`: pure functions from the API's JSON to text.

Each takes the dicts of gladtui/shapes.py (and `now`, `width` where the output
depends on them), so the output is tested without a daemon or a terminal. What
the TUI says the same way (ages, times, progress) is in gladtui/humanize.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from gladtui.humanize import age, duration, format_progress
from gladtui.shapes import TaskStatus, images_to

if TYPE_CHECKING:
    from gladtui.shapes import (
        ActionJSON,
        PostJSON,
        PostPageJSON,
        ReplicaJSON,
        StatusJSON,
        TaskJSON,
        TaskPageJSON,
        VariationJSON,
    )

MIN_TITLE = 10  # a narrow terminal still shows this much of a title
GAP = "  "


def truncate(text: str, width: int) -> str:
    """One line of at most `width` characters, cut with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= width:
        return line
    return line[: max(width - 1, 0)] + "…"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int, *, fit: bool = True
) -> str:
    """Columns sized to their content; the last one is cut to what is left of `width`."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers[:-1])]
    fixed = sum(widths) + len(GAP) * len(widths)
    last = max(width - fixed, MIN_TITLE)
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
        end = truncate(row[-1], last) if fit else row[-1]
        lines.append(GAP.join([*cells, end]).rstrip())
    return "\n".join(lines)


def format_tasks(page: TaskPageJSON, now: datetime, width: int) -> str:
    if not page["tasks"]:
        return "no tasks"
    rows = [
        [t["id"], t["status"], str(t["variation_count"]), age(t["created_at"], now), t["title"]]
        for t in page["tasks"]
    ]
    return table(["ID", "STATUS", "VARS", "AGE", "TITLE"], rows, width)


def paging_note(shown: int, total: int, offset: int, what: str, command: str) -> str | None:
    """What to say (on stderr) when a page does not hold everything; None when it does."""
    if not shown:
        return f"no {what} from offset {offset}; there are {total}" if offset and total else None
    if offset + shown >= total:
        return None
    return (
        f"showing {what} {offset + 1}-{offset + shown} of {total}; for more: "
        f"gladtui {command} --offset {offset + shown} [--limit N]"
    )


def format_task(task: TaskJSON) -> str:
    fields: list[tuple[str, object]] = [
        ("id", task["id"]),
        ("title", task["title"]),
        ("status", task["status"]),
    ]
    if task["status"] == TaskStatus.INVALID:  # a refused file: only what was wrong, and where
        fields += [
            ("error", task["error"]),
            ("source file", task["source_file"] or "(submitted through the API)"),
            ("created", task["created_at"]),
        ]
        return _fields(fields)
    fields += [
        ("slug", task["slug"]),
        ("prompt", task["prompt"]),
        ("negative prompt", task["negative_prompt"] or "(none)"),
    ]
    if task["error"]:
        fields.append(("error", task["error"]))
    if task.get("undo_until"):
        fields.append(("takes effect", f"{task['undo_until']} (gladtui undo {task['id']})"))
    fields += [("warning", warning) for warning in task["warnings"]]
    fields += [
        ("source file", task["source_file"] or "(submitted through the API)"),
        ("seed", "random" if task["seed"] is None else task["seed"]),
        ("size", f"{task['width']}x{task['height']}"),
        ("steps", task["steps"]),
        ("guidance", task["guidance_scale"]),
        ("sampler", task["scheduler"] or "the model's own"),
    ]
    if task["preset"]:
        fields.append(("preset", task["preset"]))
    if task["loras"]:
        fields.append(("loras", format_loras(task["loras"])))
    fields += image_text(task)
    fields += [
        ("created", task["created_at"]),
        ("updated", task["updated_at"]),
    ]
    if task["post"]:
        fields.append(("post", task["post"]["featured_image_url"]))
        fields.append(("posted to", where_posted(task["post"])))
    if task["progress"]:
        fields.append(("progress", format_progress(task["progress"])))
    shown = f"{task['variation_count']} of {task['variations_requested']} requested"
    fields.append(("variations", shown))
    missing = [v["index"] for v in task["variations"] if v.get("missing")]
    if missing:
        fields.append(("missing", missing_note(task["id"], missing)))
    return "\n".join([_fields(fields), *(format_variation(v) for v in task["variations"])])


def image_text(task: TaskJSON) -> list[tuple[str, object]]:
    """The image's alt text (and where it came from), caption and focus, as `show` lists them."""
    source = "" if task.get("alt_from_task", True) else " (from the title)"
    shown: list[tuple[str, object]] = [("alt text", f"{task.get('alt', '')}{source}")]
    if task.get("caption"):
        shown.append(("caption", task["caption"]))
    focus = task.get("focus")
    if focus:
        shown.append(("focus", f"{focus[0]:g},{focus[1]:g}"))
    return shown


def missing_note(task_id: str, indexes: list[int]) -> str:
    """What to do about variations whose files are not where the task says."""
    which = ", ".join(map(str, indexes))
    return (
        f"the file of variation(s) {which} is not at its path; put it back, "
        f"or generate more variations (gladtui generate {task_id})"
    )


def _fields(fields: list[tuple[str, object]]) -> str:
    pad = max(len(key) for key, _ in fields) + 2
    return "\n".join(f"{key + ':':<{pad}}{value}" for key, value in fields)


def format_loras(loras: dict[str, float]) -> str:
    return ", ".join(f"{name} {weight:g}" for name, weight in loras.items())


def format_variation(variation: VariationJSON) -> str:
    """One line: index, selection mark, seed, how it was made, file."""
    mark = "*" if variation["selected"] else " "
    deleted = " (deleted)" if variation["removed_at"] else ""
    if variation.get("missing"):  # .get: a daemon before issue 29 does not say
        deleted = " (missing)"
    seed = f"seed {variation['seed']}"
    made = [f"{variation['steps']} steps", f"cfg {variation['guidance_scale']:g}"]
    if variation["sampler"]:
        made.insert(0, variation["sampler"])
    if variation["preset"]:
        made.insert(0, variation["preset"])
    if variation["loras"]:
        made.append(format_loras(variation["loras"]))
    if variation["from_variation"] is not None:
        made.append(f"from {variation['from_variation']}")
    recipe = ", ".join(made)
    return f"  {variation['index']:>3} {mark} {seed:<16} {recipe:<28} {variation['path']}{deleted}"


def format_status(status: StatusJSON) -> str:
    model = status["model"]
    state = model["state"] + (f" on {model['device']}" if model["device"] else "")
    lines = [
        f"version:  {status['version']}",
        f"pid:      {status['pid']}",
        f"uptime:   {duration(status['uptime_seconds'])} (since {status['started_at']})",
        f"model:    {model['name']} ({state}, {model['images_generated']} images made)",
    ]
    if model["error"]:
        lines.append(f"          error: {model['error']}")
    if model.get("speed"):  # a daemon before the speed switches says nothing of them
        lines.append(f"speed:    {model.get('speed')}")
    if model.get("backend") == "ray":  # a daemon before Ray support says nothing of it
        lines += [f"  {_replica_line(r)}" for r in model["replicas"]]
    lines.append("tasks:")
    lines += [f"  {name + ':':<12}{count}" for name, count in status["tasks"].items()]
    jobs = status["jobs"]
    lines.append(f"jobs:     {jobs.get('pending', 0)} pending, {jobs.get('running', 0)} running")
    publishing = status["publishing"]
    posts = publishing.get("posts_destination", "gladtui posts")  # a daemon before posts.to
    lines += [
        f"images:   {images_to(publishing)}",
        f"posts:    {posts} (duplicate slugs: {publishing['on_duplicate_slug']})",
        f"socket:   {status['socket']}",
        f"drop:     {status['drop_dir']}",
        f"previews: {status['preview_dir']}",
        f"database: {status['database']}",
    ]
    return "\n".join(lines)


def _replica_line(replica: ReplicaJSON) -> str:
    """`replica-1  generating muffins  cuda on gpu-2, 12 images made`."""
    doing = replica["state"] + (f" {replica['task_id']}" if replica["task_id"] else "")
    where = " on ".join(filter(None, [replica["device"], replica["node"]]))
    line = f"{replica['name']:<11}{doing}" + (f"  {where}" if where else "")
    line += f", {replica['images_generated']} images made"
    return line + (f"  error: {replica['error']}" if replica["error"] else "")


def format_posts(page: PostPageJSON) -> str:
    if not page["posts"]:
        return "no posts"
    rows = [
        [p["slug"], p["task_id"], where_posted(p), p["featured_image_url"]] for p in page["posts"]
    ]
    return table(["SLUG", "TASK", "WHERE", "URL"], rows, width=0, fit=False)  # a cut URL is no use


def where_posted(post: PostJSON) -> str:
    """`postgres: posts id 42`, `markdown: /blog/content/posts/x.md`, `local`."""
    destination, location = post.get("destination", "local"), post.get("location")
    return f"{destination}: {location}" if location else destination


def format_approval(task: TaskJSON) -> str:
    """After `approve`: the slug, then the URL, the wait, or what went wrong."""
    lines = [f"slug: {task['slug']}"]
    post, task_id = task["post"], task["id"]
    if task.get("undo_until"):
        lines += [
            f"publishes at {task['undo_until']} (the grace period); until then "
            f"`gladtui undo {task_id}` takes it back",
            f"follow it with `gladtui show {task_id}`",
        ]
    elif post is not None:
        lines.append(f"published: {post['featured_image_url']}")
    elif task["status"] == TaskStatus.FAILED:
        lines.append(f"publishing failed: {task['error']}")
    else:
        lines.append(f"still {task['status']}; follow it with `gladtui show {task_id}`")
    return "\n".join(lines)


def format_action(action: ActionJSON) -> str:
    task = action["task"]
    return f"{action['message']}\n{task['id']}: {task['status']}"
