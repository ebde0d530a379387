"""The parts behind pictures in a terminal, one by one: the escapes and ids of kitty's
placeholders, the queries and their answers (on a real pty), the facts they give,
the choice made from them and what it says, the thumbnail width.

The whole path, through a real tmux to a terminal the test plays, is in
tests/gladtui/tui/test_pictures_tmux.py.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator

import pytest
from PIL import Image
from rich.color import ColorSystem

from gladtui import termquery
from gladtui.passthrough import tmux_wrap, unwrapped
from gladtui.pictureprotocol import PASSTHROUGH_LINE, choose, detect
from gladtui.picturesize import picture_cell, wanted_thumbnail_width
from gladtui.terminalfacts import (
    UNASKED_TMUX,
    CellPixels,
    TerminalFacts,
    Tmux,
    draws_placeholders,
    facts_from,
)
from gladtui.tui import kittyescapes, thumbnail_width_for
from gladtui.tui.kittyescapes import ID_COLOURS, ImageIds, cell_colour, cube_rgb, image_id
from tests.kittybytes import graphics

# -- escapes ------------------------------------------------------------------------------


def test_tmux_wrap_doubles_every_escape_inside() -> None:
    inner = "\x1b_Ga=q,i=1;AAAA\x1b\\"
    wrapped = tmux_wrap(inner)
    assert wrapped == "\x1bPtmux;\x1b\x1b_Ga=q,i=1;AAAA\x1b\x1b\\\x1b\\"
    body = wrapped.removeprefix("\x1bPtmux;").removesuffix("\x1b\\")
    assert "\x1b" not in body.replace("\x1b\x1b", "")  # no lone ESC ends it early
    assert body.replace("\x1b\x1b", "\x1b") == inner
    assert unwrapped(inner) == inner


def test_a_large_picture_goes_in_chunks_a_kitty_terminal_reassembles() -> None:
    picture = Image.effect_noise((300, 200), 60).convert("RGB")  # noise: compresses badly
    encoded = kittyescapes.zlib_pixels(picture)
    escapes = kittyescapes.transmit(7, encoded)
    assert len(escapes) == -(-len(encoded.data) // 4096) > 2
    assert escapes[0].startswith("\x1b_Ga=t,f=24,s=300,v=200,o=z,i=7,q=2,m=1;")
    assert all(re.match(r"\x1b_Gm=1,q=2;", e) for e in escapes[1:-1])
    assert escapes[-1].startswith("\x1b_Gm=0,q=2;")
    decoded = graphics("".join(escapes).encode())
    assert decoded.transmissions == {7: 1}
    assert decoded.image(7).tobytes() == picture.tobytes()


def test_pixels_go_as_the_terminal_decodes_them_in_every_mode() -> None:
    """RGB as f=24, alpha kept as f=32, other modes as RGB; a PNG (f=100) decodes too."""
    rgba = Image.new("RGBA", (5, 3), (10, 20, 30, 40))
    grey = Image.new("L", (4, 4), 99)
    for picture, keys, expected in (
        (rgba, "f=32,s=5,v=3,o=z", rgba),
        (grey, "f=24,s=4,v=4,o=z", grey.convert("RGB")),
    ):
        encoded = kittyescapes.zlib_pixels(picture)
        assert encoded.keys == keys
        decoded = graphics("".join(kittyescapes.transmit(3, encoded)).encode()).image(3)
        assert decoded.mode == expected.mode and decoded.tobytes() == expected.tobytes()
    as_png = kittyescapes.png(rgba)
    assert as_png.keys == "f=100"
    decoded = graphics("".join(kittyescapes.transmit(4, as_png)).encode()).image(4)
    assert decoded.tobytes() == rgba.tobytes()


def test_placement_deletion_and_cells_name_the_image() -> None:
    assert kittyescapes.place(9, 14, 7) == "\x1b_Ga=p,U=1,i=9,c=14,r=7,q=2\x1b\\"
    assert kittyescapes.delete(9) == "\x1b_Ga=d,d=I,i=9,q=2\x1b\\"  # d=I: frees the data
    rows = kittyescapes.placeholder_rows(colour=46, high=3, columns=3, rows=2)
    d = kittyescapes.DIACRITICS
    assert rows[1] == "".join(f"{kittyescapes.PLACEHOLDER}{d[1]}{d[c]}{d[3]}" for c in range(3))


def _written(colour: int, system: ColorSystem) -> str:
    """The SGR a Rich console of that colour system writes for the colour (the path
    of Style's own rendering, without its per-instance cache of the codes)."""
    return ";".join(cell_colour(colour).downgrade(system).get_ansi_codes())


def test_an_id_colour_reaches_the_terminal_as_the_id_it_was_sent_under() -> None:
    """As 256 colours its index is its id's low byte; as true colour, its RGB is the
    low 24 bits (Rich writes what Textual renders)."""
    for colour in ID_COLOURS:
        assert _written(colour, ColorSystem.EIGHT_BIT) == f"38;5;{colour}"
        r, g, b = cube_rgb(colour)
        assert _written(colour, ColorSystem.TRUECOLOR) == f"38;2;{r};{g};{b}"
        assert image_id(colour, 5, true_colour=False) == 5 << 24 | colour
        assert image_id(colour, 5, true_colour=True) == 5 << 24 | r << 16 | g << 8 | b


def test_the_id_colours_leave_out_the_greys_of_the_cube() -> None:
    assert len(ID_COLOURS) >= 200
    assert 59 not in ID_COLOURS and 145 not in ID_COLOURS  # (95,95,95), (175,175,175)
    assert _written(59, ColorSystem.EIGHT_BIT) != "38;5;59"  # what the exclusion avoids


def test_ids_are_handed_out_until_none_is_free_and_reused_last() -> None:
    ids = ImageIds(high=200)
    taken = [ids.take() for _ in ID_COLOURS]
    assert all(t is not None and t.high == 200 for t in taken)
    assert len({t.colour for t in taken if t}) == len(ID_COLOURS)
    assert ids.take() is None
    first, second = taken[0], taken[1]
    assert first is not None and second is not None
    ids.give_back(second)
    ids.give_back(first)
    assert ids.take() == second and ids.take() == first
    assert 1 <= ImageIds().high <= 255


# -- queries ------------------------------------------------------------------------------

ANSWERS = (
    b"\x1b[?62;4;22c"  # DA1 with sixel
    b"x"  # a key pressed meanwhile
    b"\x1b_Gi=31;OK\x1b\\"  # another program's query
    b"\x1b_Gi=4242;EINVAL:bad\x1b\\"
    b"\x1bP>|WezTerm 20240203\x1b\\"
    b"\x1b[6;24;12t"
    b"\x1b[0n"
)


def test_answers_are_told_apart_by_their_shapes() -> None:
    answers = termquery.parse(ANSWERS)
    assert answers.device_attributes == [(62, 4, 22)]
    assert answers.kitty == ["EINVAL:bad"]  # only the answer to our own query
    assert answers.versions == ["WezTerm 20240203"]
    assert answers.cells == [(12, 24)]
    assert answers.complete
    assert not termquery.parse(ANSWERS[:-4]).complete


def test_the_probe_ends_with_the_status_report_wrapped_like_the_rest() -> None:
    direct = termquery.probe(unwrapped)
    assert direct.endswith(termquery.STATUS_REPORT)
    assert direct.index(termquery.KITTY_GRAPHICS) < direct.index(termquery.CELL_SIZE)
    wrapped = termquery.probe(tmux_wrap)
    assert wrapped.endswith(tmux_wrap(termquery.STATUS_REPORT))
    assert wrapped.count("\x1bPtmux;") == 5


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    main, child = os.openpty()
    yield main, child
    os.close(main)
    os.close(child)


def _terminal(main: int, reply: bytes, asked: threading.Event) -> None:
    """Play the terminal: read the queries up to the status report, answer them."""
    got = b""
    while termquery.STATUS_REPORT.encode() not in got:
        got += os.read(main, 4096)
    asked.set()
    os.write(main, reply)


def test_ask_reads_until_the_status_report_and_restores_the_terminal(
    pty: tuple[int, int],
) -> None:
    main, child = pty
    before = termios.tcgetattr(child)
    asked = threading.Event()
    player = threading.Thread(target=_terminal, args=(main, ANSWERS, asked))
    player.start()
    data = termquery.ask(termquery.probe(unwrapped), child, child, timeout=60)
    player.join()
    assert asked.is_set() and data == ANSWERS
    assert termios.tcgetattr(child) == before


def test_ask_gives_up_when_nothing_answers(pty: tuple[int, int]) -> None:
    _, child = pty
    data = termquery.ask(termquery.probe(unwrapped), child, child, timeout=0.3)
    assert not termquery.parse(data).complete


def test_loading_the_tui_asks_the_terminal_nothing(pty: tuple[int, int]) -> None:
    """textual-image's own queries on import (its late answers would be keystrokes, and
    inside tmux its kitty query becomes the pane's title) are not sent."""
    main, child = pty
    code = "import gladtui.tui, textual_image._terminal as t; print(t.get_cell_size())"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=child, stdout=child, stderr=child
    )
    output = b""
    while process.poll() is None or select.select([main], [], [], 0)[0]:
        if select.select([main], [], [], 0.1)[0]:
            output += os.read(main, 4096)
    assert process.returncode == 0, output
    assert output.strip() == b"CellSize(width=10, height=20)"  # no escape before it


# -- facts ----------------------------------------------------------------------------------

KITTY_TMUX = ["3.3a", "1", "kitty(0.35.2)", "xterm-kitty", "bpaste,RGB", "10", "20"]


def _answers(*parts: bytes) -> termquery.Answers:
    return termquery.parse(b"".join(parts) + b"\x1b[0n")


def test_outside_tmux_the_answers_are_the_terminals() -> None:
    answers = _answers(b"\x1b[?62;c", b"\x1b_Gi=4242;OK\x1b\\", b"\x1b[6;20;9t")
    facts = facts_from({"TERM_PROGRAM": "ghostty"}, answers, None, (16, 32))
    assert facts.tmux is None and facts.kitty and not facts.sixel
    assert facts.name == "ghostty"  # no XTVERSION answer: its TERM_PROGRAM
    assert facts.cell == CellPixels(9, 20, "the terminal's answer to CSI 16 t")


def test_inside_tmux_the_first_attributes_are_tmuxs_the_rest_the_outer_terminals() -> None:
    answers = _answers(
        b"\x1b[?1;2;4c",  # tmux built with sixel
        b"\x1b[?62;4c",  # the outer terminal, through the passthrough
        b"\x1bP>|kitty(0.35.2)\x1b\\",
        b"\x1b[6;24;12t",
    )
    facts = facts_from({}, answers, KITTY_TMUX, (16, 32))
    assert facts.tmux is not None and facts.tmux.passthrough and facts.tmux.draws_sixel
    assert facts.tmux.number == (3, 3) and "RGB" in facts.tmux.features
    assert facts.sixel and facts.kitty is False  # no kitty answer came
    assert facts.cell.width == 12  # the terminal's answer, not tmux's nor the window's


def test_without_passthrough_tmux_says_what_it_knows() -> None:
    fields = ["3.3a", "0", "kitty(0.35.2)", "xterm-kitty", "", "10", "20"]
    facts = facts_from({}, _answers(b"\x1b[?1;2c"), fields, (16, 32))
    assert facts.tmux is not None and not facts.tmux.passthrough
    assert facts.kitty is None  # not asked: it could not reach the terminal
    assert facts.name == "kitty(0.35.2)"
    assert facts.cell == CellPixels(10, 20, "tmux's client_cell_width and client_cell_height")
    no_size = ["3.3a", "0", "", "xterm-kitty", "", "", ""]
    window = facts_from({}, _answers(), no_size, (16, 32))
    assert window.name == "xterm-kitty"
    assert window.cell.source == "the window size's pixel fields (TIOCGWINSZ)"
    assert facts_from({}, _answers(), no_size, None).cell.width == 10  # assumed


def test_a_tmux_that_cannot_be_asked_passes_nothing() -> None:
    facts = facts_from({}, _answers(b"\x1b[?1;2c"), UNASKED_TMUX, None)
    assert facts.tmux is not None and not facts.tmux.asked and not facts.tmux.passthrough
    choice = detect(facts)
    assert choice.protocol == "halfblocks" and "no `tmux` command here" in choice.why


@pytest.mark.parametrize(
    ("version", "setting", "passthrough"),
    [("3.2a", "", True), ("3.3a", "0", False), ("3.4", "all", True), ("3.3a", "1", True)],
)
def test_passthrough_before_33_was_always_on(version: str, setting: str, passthrough: bool) -> None:
    fields = [version, setting, "", "", "", "", ""]
    tmux = facts_from({}, _answers(), fields, None).tmux
    assert tmux is not None and tmux.passthrough is passthrough


@pytest.mark.parametrize(
    ("name", "draws"),
    [
        ("kitty(0.35.2)", True),
        ("kitty(0.27.1)", False),  # placeholders came with 0.28
        ("xterm-kitty", True),
        ("ghostty 1.1.3", True),
        ("WezTerm 20240203-110809-5046fc22", False),
        ("konsole", False),
        ("foot(1.16.2)", None),
        ("", None),
    ],
)
def test_which_terminals_draw_kittys_placeholders(name: str, draws: bool | None) -> None:
    assert draws_placeholders(name) is draws


# -- the choice -----------------------------------------------------------------------------


def _facts(
    *, tmux: Tmux | None = None, name: str = "", kitty: bool | None = None, sixel: bool = False
) -> TerminalFacts:
    return TerminalFacts(True, tmux, False, name, kitty, sixel, CellPixels(10, 20, "test"))


def _tmux(version: str = "3.3a", passthrough: bool = True, **extra: object) -> Tmux:
    fields: dict[str, object] = {
        "termtype": "",
        "termname": "xterm-256color",
        "features": frozenset(),
        "draws_sixel": False,
    }
    fields.update(extra)
    return Tmux(version, passthrough, **fields)  # type: ignore[arg-type]


def test_outside_tmux_sixel_then_kitty_then_half_blocks() -> None:
    assert detect(_facts(sixel=True, kitty=True)).protocol == "sixel"  # WezTerm, Konsole
    assert detect(_facts(kitty=True)).protocol == "kitty"
    nothing = detect(_facts(kitty=False))
    assert nothing.protocol == "halfblocks" and "neither" in nothing.why


def test_in_tmux_with_passthrough_kitty_for_terminals_that_draw_placeholders() -> None:
    choice = detect(_facts(tmux=_tmux(), name="kitty(0.35.2)", kitty=True))
    assert choice.protocol == "kitty" and choice.in_tmux
    assert "answered the kitty graphics query" in choice.why
    by_name = detect(_facts(tmux=_tmux(), name="ghostty 1.1.3", kitty=False))
    assert by_name.protocol == "kitty" and "did not come back" in by_name.why


def test_in_tmux_wezterm_gets_half_blocks_and_the_reason() -> None:
    choice = detect(_facts(tmux=_tmux(), name="WezTerm 20240203", kitty=True, sixel=True))
    assert choice.protocol == "halfblocks"
    assert "draws kitty graphics but not its Unicode placeholders" in choice.why
    assert "tmux 3.3a cannot carry sixel (3.4 and later built with sixel can)" in choice.why
    assert "gladtui --ssh HOST" in choice.why


def test_in_tmux_an_unknown_terminal_that_answers_kitty_is_not_trusted() -> None:
    choice = detect(_facts(tmux=_tmux(), name="xterm-256color", kitty=True))
    assert choice.protocol == "halfblocks" and "GLADTUI_PICTURES=kitty to try" in choice.why


def test_passthrough_off_names_the_line_to_add() -> None:
    choice = detect(_facts(tmux=_tmux(passthrough=False), name="kitty(0.35.2)"))
    assert choice.protocol == "halfblocks"
    assert f"add `{PASSTHROUGH_LINE}` to ~/.tmux.conf" in choice.why
    wezterm = detect(_facts(tmux=_tmux(passthrough=False), name="WezTerm 20240203"))
    assert PASSTHROUGH_LINE not in wezterm.why  # it would not help there


def test_tmux_with_sixel_draws_sixel_itself() -> None:
    tmux = _tmux("3.4", draws_sixel=True, features=frozenset({"sixel", "RGB"}))
    assert detect(_facts(tmux=tmux, name="foot(1.16.2)")).protocol == "sixel"
    unknown = _tmux("3.4", draws_sixel=True)  # tmux does not know its terminal draws sixel
    assert detect(_facts(tmux=unknown, name="foot(1.16.2)")).protocol == "halfblocks"


def test_forcing_says_what_will_go_wrong_in_tmux() -> None:
    off = _facts(tmux=_tmux(passthrough=False))
    kitty = choose("kitty", {}, off)
    assert kitty.protocol == "kitty" and kitty.why.startswith("forced by tui.pictures: kitty")
    assert "allow-passthrough is off, so nothing is drawn" in kitty.why
    sixel = choose("auto", {"GLADTUI_PICTURES": "sixel"}, _facts(tmux=_tmux()))
    assert "tmux 3.3a cannot carry sixel" in sixel.why
    iterm2 = choose("iterm2", {}, _facts(tmux=_tmux()))
    assert "land out of place" in iterm2.why
    assert choose("kitty", {}, _facts()).why == "forced by tui.pictures: kitty"


# -- sizes ----------------------------------------------------------------------------------


def test_the_thumbnail_is_as_wide_as_the_box_shows() -> None:
    cell = CellPixels(12, 24, "test")
    assert wanted_thumbnail_width(14, picture_cell("kitty", cell).width) == 256  # 168, a step up
    assert wanted_thumbnail_width(14, picture_cell("halfblocks", cell).width) == 64  # the least
    assert wanted_thumbnail_width(2000, 12) == 8192  # the API's most
    assert wanted_thumbnail_width(32, 10) == 320  # a step exactly: not one up
    choice = detect(_facts(kitty=True))
    at_80x24 = thumbnail_width_for(choice, 80, 24)
    assert at_80x24 == 256  # the approve dialog's 24 cells of 10 px (240): wider than a box
    assert thumbnail_width_for(choice, 250, 70) > at_80x24
