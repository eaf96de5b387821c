"""The vectorised GBK check of the importer gives the same verdict as Python's decoder."""

from __future__ import annotations

import numpy as np

from layers.exchange.importer import _double_byte_check, _double_byte_pairs


def _verdicts(values: list[bytes], width: int) -> tuple[list[bool], list[bool]]:
    block = np.frombuffer(b"".join(v.ljust(width, b" ") for v in values), dtype=np.uint8).reshape(len(values), width)
    pairs = _double_byte_pairs("gbk")
    assert pairs is not None
    bad, replaced = _double_byte_check(block, *pairs)
    return bad.tolist(), replaced.tolist()


def test_random_bytes_agree_with_the_codec() -> None:
    rng = np.random.default_rng(7)
    width = 12
    values = []
    for _ in range(20_000):
        n = int(rng.integers(1, width + 1))
        # Mostly high bytes, some ASCII and blanks, so that pairs, lone leads and bad trails occur.
        raw = bytes(int(b) for b in rng.choice([0x20, 0x41, 0x7F, 0x80, 0xA1, 0xB0, 0xD6, 0xFE, 0xFF, 0x40], n))
        values.append(raw.rstrip(b" ") or b"A")
    values += ["东村".encode("gbk"), "张三/李四".encode("gbk"), "J1至J2".encode("gbk"), "东".encode("gbk")[:1]]
    values += ["东村".encode(), b"\x81\x30\x81\x30", b"A\xa1", b"\xa1 \xa1"]
    bad, replaced = _verdicts(values, width)
    expected = []
    for raw in values:
        try:
            raw.decode("gbk")
            expected.append(False)
        except UnicodeDecodeError:
            expected.append(True)
    assert bad == expected
    assert sum(expected) > 1000 and len(expected) - sum(expected) > 1000  # both verdicts exercised
    assert not any(replaced)  # GBK maps nothing to U+FFFD


def test_only_gbk_takes_the_table() -> None:
    assert _double_byte_pairs("cp936") is not None  # Python's alias of GBK
    assert _double_byte_pairs("gb18030") is None  # four-byte sequences
    assert _double_byte_pairs("utf-8") is None
