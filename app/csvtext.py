"""CSV as billing systems import it: a header row of fixed column names, one row per
item, booleans as ``true``/``false`` (as in the JSON, not Python's ``True``), decimals
as the JSON's strings (``"99.9004"``, ``"10.00"``: never re-rounded), an empty cell
for null, instants as the JSON's RFC 3339 text, ``\\n`` line ends, UTF-8."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def cell(value: Any) -> Any:
    """One value as its CSV cell (the csv module writes None as an empty cell)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_csv(
    columns: Sequence[str], rows: Iterable[Mapping[str, Any]], header: bool = True
) -> str:
    """``rows`` under the header ``columns`` (other keys of a row are left out);
    ``header=False`` for the rows alone (a later slice of a long table)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({name: cell(row.get(name)) for name in columns})
    return out.getvalue()
