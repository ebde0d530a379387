"""What a new user tripped on in the review TUI (issue 28, item 5), finding by finding.

A real daemon in this process (tiny model), the real app under Textual's
pilot at 80x24 and 120x40, as tests/gladtui/tui/test_review_screen.py does: what the
screen says is read from the widgets as drawn, and what the keys do is read
back from the daemon.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input
from textual_image.widget import Image

from gladtui.client import Client, DaemonUnreachable, Remote
from gladtui.shapes import VariationJSON
from gladtui.tui.app import ReviewApp
from gladtui.tui.gallery import Thumbnail, gallery_title
from gladtui.tui.livepreviews import PreviewBox
from gladtui.tui.modals import GenerateScreen, RejectScreen
from gladtui.tui.screens import DisconnectedScreen
from gladtui.tui.taskwindow import TaskWindow
from tests.apidaemon import ApiDaemon, task_yaml
from tests.stepgate import HeldClock, StepGate
from tests.tuitools import gallery, titles, until

if TYPE_CHECKING:
    from daemon.generation.models import LoadedModel

pytestmark = pytest.mark.slow

SIZES = [(80, 24), (120, 40)]
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    daemon = ApiDaemon(tiny).start()
    yield daemon
    daemon.cleanup()


def app_for(daemon: ApiDaemon, **options: Any) -> ReviewApp:
    return ReviewApp(daemon.client, stream_timeout=3.0, **options)


def shown(app: ReviewApp) -> list[int]:
    return [t.variation["index"] for t in app.review.query(Thumbnail)]


async def pictures_of(
    pilot: Pilot[None], app: ReviewApp, task_id: str, indexes: list[int], timeout: float = 60
) -> None:
    await until(
        pilot,
        lambda: (
            gallery(app).task_id == task_id
            and shown(app) == indexes
            and len(app.review.query(Image)) == len(indexes)
            and not gallery(app).has_class("-stale")
        ),
        timeout=timeout,
        what=f"variations {indexes} of {task_id}",
    )


def screen_rows(app: ReviewApp) -> list[str]:
    """The screen's rows as the terminal gets them: borders, titles, cut where cut."""
    strips = app.screen._compositor.render_strips()  # no public way to read them
    return [strip.text for strip in strips]


def words(app: ReviewApp) -> str:
    """The screen's words as one line: wrapped sentences whole again, frames left out."""
    return " ".join(re.sub(r"[█▀▄▌▐│┃▕▎▊▔▁]", " ", "\n".join(screen_rows(app))).split())


def drawn(app: ReviewApp, widget: Any, y: int = 0) -> str:
    """Row `y` of the widget, border included, as drawn on the screen."""
    region = widget.region
    return screen_rows(app)[region.y + y][region.x : region.right]


# -- 1: the gallery's border speaks in the variations' own numbers, and their round -------


def variation(index: int, round_: int) -> VariationJSON:
    fields: dict[str, Any] = {"index": index, "round": round_}
    return fields  # type: ignore[return-value]


def test_the_border_names_the_page_and_the_round() -> None:
    first = [variation(n, 1) for n in range(1, 5)]
    assert gallery_title(first[:3], first) == "Variations 1–3 of 4"
    assert gallery_title(first[3:], first) == "Variations 4 of 4"
    assert gallery_title(first[:3], first[:3]) == "Variations 1–3"
    second = [variation(n, 2) for n in range(5, 9)]
    assert gallery_title(second[:3], second) == "Round 2: variations 5–7 of 5–8"
    both = first + second  # the files kept, then more
    assert gallery_title(both[3:6], both) == "Rounds 1–2: variations 4–6 of 8"
    gaps = [first[0], *second]  # 2-4 approved away or removed by retention
    assert gallery_title(gaps[:3], gaps) == "Rounds 1–2: variations 1, 5, 6 of 5 in 1–8"


@size_ids
async def test_after_a_reject_with_a_new_prompt_the_border_says_round_2(
    live: ApiDaemon, size: tuple[int, int]
) -> None:
    task_id = live.in_review("Second Round", variations=4)["id"]
    live.client.reject(task_id, prompt="blueberry muffins, golden crust")
    task = live.wait_status(task_id, "review")
    rounds = {v["index"]: (v["round"], v["removed_at"] is None) for v in task["variations"]}
    assert rounds == {
        **dict.fromkeys(range(1, 5), (1, False)),
        **dict.fromkeys(range(5, 9), (2, True)),
    }
    app = app_for(live)
    async with app.run_test(size=size) as pilot:
        await pictures_of(pilot, app, task_id, [5, 6, 7])
        title = str(gallery(app).border_title)
        assert title.startswith("Round 2: variations 5–7 of 5–8")
        assert title in drawn(app, gallery(app))  # whole, not cut
        await pilot.press("8")
        await pictures_of(pilot, app, task_id, [8])
        assert str(gallery(app).border_title).startswith("Round 2: variations 8 of 5–8")


# -- 3: the Review tab counts the decisions in their grace period, as its list shows them ---


async def test_the_review_count_includes_decisions_in_their_grace_period(tiny: LoadedModel) -> None:
    daemon = ApiDaemon(tiny, settings={"publishing": {"grace_seconds": 600}}).start()
    try:
        kept = daemon.in_review("Still Waiting", variations=1)["id"]
        decided = daemon.in_review("Decided Now", variations=1)["id"]  # newest: on top
        app = app_for(daemon)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: " Review 2 " in drawn(app, app.review.filter_bar))
            await pictures_of(pilot, app, decided, [1])
            await pilot.press("a", "y")  # approved: 600 s to undo it
            await until(
                pilot,
                lambda: daemon.client.status()["undoable"] == 1,
                what="the daemon counts the approval as undoable",
            )
            await until(pilot, lambda: len(titles(app)) == 2, what="both rows, one counting down")
            await until(
                pilot,
                lambda: " Review 2 " in drawn(app, app.review.filter_bar),
                what="the count agrees with the list",
            )
            assert daemon.client.task(decided)["status"] == "approved"
            assert daemon.client.task(kept)["status"] == "review"
    finally:
        daemon.cleanup()


# -- 2: what is being generated shows in Review, with its previews; after g, the page follows


@pytest.fixture
def held(tiny: LoadedModel) -> Iterator[tuple[ApiDaemon, StepGate]]:
    """A daemon whose generations stop at the step the test names (tests/stepgate.py),
    so what the test waits to see is on screen however fast or busy the machine is."""
    daemon = ApiDaemon(tiny, preview_clock=HeldClock()).start()
    gate = StepGate(daemon.progress)
    yield daemon, gate
    gate.close()
    daemon.cleanup()


def forming(app: ReviewApp) -> list[int]:
    """The variations forming on the gallery's page: their live preview boxes."""
    return [box.index for box in app.review.query(PreviewBox)]


@size_ids
async def test_a_task_being_generated_shows_in_review_with_its_preview(
    held: tuple[ApiDaemon, StepGate], size: tuple[int, int]
) -> None:
    daemon, gate = held
    app = app_for(daemon)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: " Review 0 " in drawn(app, app.review.filter_bar))
        gate.hold_at(3)
        task_id = daemon.submit(task_yaml("Still Forming", variations=1, steps=10), "f.yaml")
        await asyncio.to_thread(gate.wait_held)
        await until(
            pilot,
            lambda: titles(app) == ["Still Forming"] and forming(app) == [1],
            what="the task in the Review list, its preview in the gallery",
        )
        assert app.review.filter.key == "review"  # no filter change
        # The counts are read again soon after an event; the preview may come first.
        await until(
            pilot,
            lambda: " Review 0+1 " in drawn(app, app.review.filter_bar),
            what="the count: 1 being generated",
        )
        assert "forming 1" in drawn(app, gallery(app))
        await pilot.press("c")
        await until(pilot, lambda: daemon.progress.cancel_requested(task_id), what="the cancel")
        gate.move_on()  # the next step sees the cancel
    daemon.wait_status(task_id, "failed")


async def test_a_preview_announced_while_the_cursor_was_elsewhere_shows_when_it_comes(
    held: tuple[ApiDaemon, StepGate],
) -> None:
    """Every progress event of a generation held at step 3 reaches the app while the
    cursor is on another task; moving onto it then shows the preview it already has,
    with no further event to announce it (CI once waited 60 s for one in tmux)."""
    daemon, gate = held
    daemon.in_review("Already Made", variations=1, timeout=300)
    app = app_for(daemon)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: titles(app) == ["Already Made"], what="the task in review")
        gate.hold_at(3)
        task_id = daemon.submit(task_yaml("Forming Meanwhile", variations=1, steps=10), "m.yaml")
        await asyncio.to_thread(gate.wait_held)
        tasks = app.review.tasks

        def at_step_3() -> bool:  # the list has drawn what the events said
            position = tasks.window.position_of(task_id)
            row = None if position is None else tasks.window.get(position)
            return row is not None and (row["progress"] or {}).get("step") == 3

        await until(pilot, at_step_3, what="the held step in the list")
        current = tasks.current
        assert current is not None and current["title"] == "Already Made"
        assert forming(app) == []
        await pilot.press("k")  # onto the generation, above
        await until(
            pilot,
            lambda: gallery(app).task_id == task_id and forming(app) == [1],
            what="its preview, without another event",
        )
        await pilot.press("c")
        await until(pilot, lambda: daemon.progress.cancel_requested(task_id), what="the cancel")
        gate.move_on()
    daemon.wait_status(task_id, "failed")


async def test_after_g_the_page_follows_to_the_new_variations(
    held: tuple[ApiDaemon, StepGate],
) -> None:
    daemon, gate = held
    task_id = daemon.in_review("Three More", variations=3, steps=10, timeout=300)["id"]
    app = app_for(daemon)
    async with app.run_test(size=(80, 24)) as pilot:  # a page of 3: the 4th on the next
        await pictures_of(pilot, app, task_id, [1, 2, 3])
        gate.hold_at(3)
        await pilot.press("g")
        assert isinstance(app.screen, GenerateScreen)
        app.screen.query_one("#count", Input).value = "1"
        await pilot.press("enter")
        await asyncio.to_thread(gate.wait_held)
        await until(
            pilot,
            lambda: forming(app) == [4] and shown(app) == [],
            timeout=120,
            what="the page of variation 4, its preview forming",
        )
        assert "forming 4" in drawn(app, gallery(app))
        assert titles(app) == ["Three More"]  # still in the Review list
        gate.move_on()
        await pictures_of(pilot, app, task_id, [4], timeout=300)  # final: the page stays
        assert gallery(app).selected == 4
        assert "variations 4 of 4" in drawn(app, gallery(app))


# -- 4: the reject dialog's button says all of what Enter does ----------------------------


@size_ids
async def test_the_reject_button_reads_reject_and_regenerate_whole(
    live: ApiDaemon, size: tuple[int, int]
) -> None:
    task_id = live.in_review("Rejectable", variations=1)["id"]
    app = app_for(live)
    async with app.run_test(size=size) as pilot:
        await pictures_of(pilot, app, task_id, [1])
        await pilot.press("r")
        assert isinstance(app.screen, RejectScreen)
        button = app.screen.query_one("#reject", Button)
        await pilot.press("p", *"golden crust")  # p: the prompt field
        await pilot.pause()
        assert str(button.label) == "Reject and regenerate"
        screen = "\n".join(screen_rows(app))
        assert "Reject and regenerate" in screen, screen  # on one line, whole
        await pilot.press("escape")


# -- 5: same titles keep their words; the details' header is whole -----------------------


def list_rows(app: ReviewApp) -> list[str]:
    tasks = app.review.tasks
    return [drawn(app, tasks, y) for y in range(2)]


@size_ids
async def test_same_titles_show_the_title_and_what_tells_them_apart(
    live: ApiDaemon, size: tuple[int, int]
) -> None:
    muffins = "Making Delicious Muffins"
    for n in (1, 2):
        live.in_review(muffins, variations=1, id=f"muffins-00{n}", seed=n)
    app = app_for(live)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: len(titles(app)) == 2, what="both rows")
        await pilot.pause(0.2)
        rows = list_rows(app)
        assert "…002" in rows[0] and "…001" in rows[1], rows  # newest first
        title_shown = rows[0].split("…002")[0]
        if size[0] >= 120:  # the list has room for the whole title then
            assert muffins in title_shown, rows
        else:  # 80 columns: most of the title, not "Making …"
            assert "Making Deli" in title_shown, rows
        await pilot.press("tab")
        header = drawn(app, app.review.detail_scroll)
        assert "↑ ↓ scroll · Tab or Esc: back to the list" in header, header


def test_an_id_is_told_apart_by_its_end_or_whole() -> None:
    cases = [
        (["muffins-001", "muffins-002"], ["001", "002"]),
        (["muffins", "muffins-2"], ["muffins", "muffins-2"]),  # one starts the other
        (["muffins-again", "muffins-2"], ["again", "2"]),
        (["muffins", "again"], ["muffins", "again"]),
    ]
    for ids, tails in cases:
        window = TaskWindow(None)
        rows = [{"id": ident, "title": "Muffins"} for ident in ids]
        window._reindex(dict(enumerate(rows)))  # type: ignore[arg-type]
        assert [window.tell_apart(row) for row in rows] == tails  # type: ignore[arg-type]
    alone = TaskWindow(None)
    alone._reindex({0: {"id": "muffins", "title": "Muffins"}})  # type: ignore[dict-item]
    assert alone.tell_apart({"id": "muffins", "title": "Muffins"}) is None  # type: ignore[typeddict-item]


# -- 7: a new instance says how tasks come in; a refused file, what to do with it ---------


@size_ids
async def test_an_empty_instance_names_the_drop_folder_and_gladtui_submit(
    live: ApiDaemon, size: tuple[int, int]
) -> None:
    app = app_for(live)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: "gladtui submit" in "".join(screen_rows(app)), what="how")
        await until(pilot, lambda: "no tasks yet" in drawn(app, app.review.tasks), what="list")
        screen = "\n".join(screen_rows(app))
        rows = [drawn(app, gallery(app), y) for y in range(gallery(app).region.height)]
        assert any(str(live.config.drop_dir) in row for row in rows), screen  # on one row


async def test_approving_a_refused_task_file_says_to_fix_it_and_drop_it_again(
    live: ApiDaemon,
) -> None:
    drop = live.config.drop_dir
    (drop / ".typo.part").write_bytes(b"title: Typo\npromt: muffins\n")
    (drop / ".typo.part").rename(drop / "typo.yaml")
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")  # All
        await until(pilot, lambda: titles(app) == ["Typo"], what="the refused file's task")
        await pilot.press("a")
        [said] = [n.message for n in app._notifications]
        assert "its task file was refused" in said and "Fix typo.yaml" in said, said
        assert f"drop it into {drop} again" in said and "gladtui submit" in said, said
        assert "it allows: nothing" not in said


# -- 10: under --ssh, the no-daemon dialog says on which host to start it -----------------

FAR = Remote("root@127.0.0.1:22777", "/run/user/0/gladtui/daemon.sock")


def test_under_ssh_an_unreachable_daemon_names_the_host_and_its_socket(tmp_path: Path) -> None:
    client = Client(tmp_path / "forward.sock", timeout=5, remote=FAR)  # the forward is gone
    with pytest.raises(DaemonUnreachable) as caught:
        client.health()
    said = str(caught.value)
    assert f"no daemon answers at {FAR.socket} on {FAR.host}" in said, said
    assert f"start it on {FAR.host}: `gladtui daemon` in a terminal there" in said, said


@size_ids
async def test_under_ssh_the_no_daemon_dialog_says_on_which_host(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = ReviewApp(Client(tmp_path / "forward.sock", timeout=5, remote=FAR), stream_timeout=3.0)
    async with app.run_test(size=size) as pilot:
        await until(
            pilot,
            lambda: isinstance(app.screen, DisconnectedScreen) and "Start it" in words(app),
            what="the no-daemon dialog",
        )
        screen = words(app)
        assert f"{FAR.socket} on {FAR.host}" in screen, screen
        assert f"Start it on {FAR.host}: `gladtui daemon` in a terminal there" in screen, screen
