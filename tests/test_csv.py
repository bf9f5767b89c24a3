"""CSV for billing importers: the columns the README documents, in that order;
``true``/``false`` for booleans; every cell the JSON's value (the same decimals)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from app.api import billing
from app.api.billing import CREDIT_FIELDS
from app.csvtext import write_csv
from app.reporting.report import CSV_FIELDS
from tests.conftest import Api
from tests.helpers import Catalog, another_task
from tests.test_api_sla import june_with_44_minutes_down, push

README = Path(__file__).resolve().parents[1] / "README.md"


def documented(name: str) -> list[str]:
    """The columns the README lists for ``name`` ("Columns of NAME: `a`, `b`, ...")."""
    text = " ".join(README.read_text().split())
    found = re.search(rf"Columns of {re.escape(name)}[^:]*: ((?:`\w+`(?:, |\.))+)", text)
    assert found, f"the README does not list the columns of {name}"
    return re.findall(r"`(\w+)`", found.group(1))


def test_the_readme_documents_every_column_in_order() -> None:
    assert documented("the credits CSV") == CREDIT_FIELDS
    assert documented("the report CSV") == list(CSV_FIELDS)


def test_booleans_are_true_and_false_and_null_is_empty() -> None:
    text = write_csv(["a", "b", "c", "d"], [{"a": True, "b": False, "c": None, "d": "99.90"}])
    assert text == "a,b,c,d\ntrue,false,,99.90\n"


async def test_credit_rows_say_what_the_json_says(api: Api, catalog: Catalog) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    text = (await api.call("GET", "/api/v1/credits?month=2025-06&format=csv", expect=200)).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(page["items"]) == 1
    for row, item in zip(rows, page["items"], strict=True):
        assert list(row) == CREDIT_FIELDS
        for name in CREDIT_FIELDS:
            value = item[name]
            expected = (
                ("true" if value else "false")
                if isinstance(value, bool)
                else ""
                if value is None
                else str(value)
            )
            assert row[name] == expected, (name, row[name], value)
    assert rows[0]["breached"] == "true" and rows[0]["needs_review"] == "false"


async def test_report_rows_use_true_and_false_too(api: Api, catalog: Catalog) -> None:
    customer_id = catalog["customer"]["id"]
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    url = f"/api/v1/customers/{customer_id}/report?month=2025-06"
    document = (await api.call("GET", url, expect=200)).json()
    text = (await api.call("GET", f"{url}&format=csv", expect=200)).text
    [row] = list(csv.DictReader(io.StringIO(text)))
    [service] = document["services"]
    assert (row["breached"], row["needs_review"]) == ("true", "false")
    for name in ("uptime_percent", "credit_amount", "credit_percent", "target_percent"):
        assert row[name] == service[name]


async def test_credit_rows_are_written_in_slices_as_in_one_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The credits CSV is written a slice at a time (turns of the loop between): one
    header, every row in order, the same text as written in one go."""
    monkeypatch.setattr(billing, "ROWS_PER_TURN", 2)
    items = [
        {name: f"{name}-{k}" for name in CREDIT_FIELDS} | {"breached": k % 2 == 0} for k in range(5)
    ]
    async with another_task() as turns:
        text = await billing._csv(items)
    assert len(turns) == 2  # between the three slices
    assert text == write_csv(CREDIT_FIELDS, items)
    assert text.count(CREDIT_FIELDS[0]) == 1 + len(items)  # the header, then each row's
    assert [row["breached"] for row in csv.DictReader(io.StringIO(text))] == [
        "true",
        "false",
        "true",
        "false",
        "true",
    ]
