"""The guarded YAML reader shared by task files and config files."""

from __future__ import annotations

import pytest

from gladtui.yamlsafe import MAX_DEPTH, YamlError, load_yaml

BIG = 10 << 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no", "no"),  # YAML 1.1 would say False
        ("yes", "yes"),
        ("off", "off"),
        ("12:30", "12:30"),  # YAML 1.1 would say 750
        ("2024-01-01", "2024-01-01"),  # YAML 1.1 would say a date
        ("1_000", "1_000"),
        ("010", 10),  # YAML 1.1 would say 8
        ("0x1f", 31),
        ("0o17", 15),
        ("true", True),
        ("False", False),
        ("7.5", 7.5),
        ("1e3", 1000.0),
        ("~", None),
        ("null", None),
        ("'quoted'", "quoted"),
    ],
)
def test_core_schema_scalars(text: str, expected: object) -> None:
    assert load_yaml(f"value: {text}\n".encode(), max_bytes=BIG) == {"value": expected}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"a: &x [1, 2]\nb: *x\n", "aliases (*name) are not allowed"),
        (b"a: 1\nb: 2\na: 3\n", "line 3, column 1: duplicate key 'a'"),
        (b"[" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
        (b"a: 1\n---\nb: 2\n", "expected a single document"),
        (b"a: !!python/object/apply:os.system [true]\n", "could not determine a constructor"),
        (b"\xc3\x28", "not UTF-8 text (byte 0xc3 at offset 0)"),
        (b"a: 1\x00", "binary data, not text"),
        (b"a: [1, 2\n", "expected ',' or ']'"),
    ],
)
def test_refusals_name_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(YamlError) as refused:
        load_yaml(data, max_bytes=BIG)
    assert problem in str(refused.value)


def test_block_nesting_is_refused_before_the_stack_runs_out() -> None:
    compact = b"- " * 100_000 + b"x\n"  # a block sequence in a sequence, 100,000 deep
    indented = "".join("  " * level + "-\n" for level in range(200)).encode()
    for deep in (compact, indented):
        with pytest.raises(YamlError, match="nested deeper than"):
            load_yaml(deep, max_bytes=BIG)


def test_size_is_capped_before_parsing() -> None:
    # Not YAML at all: had it been parsed, the error would be a syntax error.
    with pytest.raises(YamlError, match="file is 2,049 bytes; the limit is 2,048"):
        load_yaml(b"[" * 2049, max_bytes=2048)


def test_byte_order_mark_is_accepted() -> None:
    assert load_yaml(b"\xef\xbb\xbftitle: x\n", max_bytes=BIG) == {"title": "x"}
