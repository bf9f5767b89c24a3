"""The Prometheus text format (version 0.0.4), the little of it these families need:
label escaping, family headers and sample values. Floats are converted here, at the
edge, from the exact values the accounting keeps."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction

from app.loop import in_slices

Number = int | float | Decimal | Fraction

ROWS_PER_TURN = 2_000  # rows of lines transposed and joined in one turn (~1.6 ms)


def escape(value: str) -> str:
    """A label value as the format quotes it: backslash, double quote and newline."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def labels(pairs: Iterable[tuple[str, str]]) -> str:
    """``name="value",...`` (without braces), values escaped."""
    return ",".join(f'{name}="{escape(value)}"' for name, value in pairs)


def header(name: str, kind: str, help_text: str) -> str:
    help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


def value(number: Number) -> str:
    """A sample value: integers exactly, decimals as their own digits (a credit of
    12.30 is written 12.30), fractions and floats as the nearest double."""
    if isinstance(number, bool):
        return "1" if number else "0"
    if isinstance(number, int):
        return str(number)
    if isinstance(number, Decimal):
        if number.is_finite():
            return str(number)
        number = float(number)
    as_float = float(number)
    if math.isnan(as_float):
        return "NaN"
    if math.isinf(as_float):
        return "+Inf" if as_float > 0 else "-Inf"
    return repr(as_float)


async def family_chunks(
    families: Sequence[tuple[str, str]], lines: Iterable[Sequence[bytes]]
) -> list[bytes]:
    """Gauge families from rows of encoded lines (one line, or b"", per family and
    row): per family with any line, its header and then all its lines. Transposed
    and joined in C, a block of ``ROWS_PER_TURN`` rows between two turns of the event
    loop (100,000 rows in one go: 80 ms); a family's lines stay one chunk per block,
    never joined into one (that would be another copy of up to 140 MB)."""
    blocks: list[list[bytes]] = [[] for _ in families]
    async for part in in_slices(lines, ROWS_PER_TURN):
        for block, column in zip(blocks, zip(*part, strict=True), strict=False):
            block.append(b"".join(column))
    chunks = []
    for (name, help_text), block in zip(families, blocks, strict=True):
        if any(block):
            chunks += [header(name, "gauge", help_text).encode(), *filter(None, block)]
    return chunks
