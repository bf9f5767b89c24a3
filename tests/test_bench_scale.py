"""The scale benchmarks (bench.scale) run end to end in a tiny mode: real ``uptally
serve`` and ``uptally agent`` processes, a real local target, a fresh PostgreSQL
database. Only the shape of the report and that checks were made are asserted: the
figures themselves are timing, which belongs to the benchmark, not to a test."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

from bench.scale import main
from bench.scale_procs import Scrape, histogram_quantile
from bench.scale_run import Readers
from tests.conftest import SKIP_PG

LAG_TEXT = """# HELP uptally_schedule_lag_seconds How late checks started
uptally_schedule_lag_seconds_bucket{le="0.01"} 80.0
uptally_schedule_lag_seconds_bucket{le="0.1"} 90.0
uptally_schedule_lag_seconds_bucket{le="1.0"} 100.0
uptally_schedule_lag_seconds_bucket{le="+Inf"} 100.0
uptally_checks_total{location="local"} 100.0
uptally_checks_shed_total{location="local"} 3.0
uptally_fold_backlog_age_seconds 7.0
uptally_probe_success{monitor_id="1",monitor="uptally_checks_total"} 1.0
"""


def test_a_scrape_reads_the_scheduler_counters_and_the_lag_histogram() -> None:
    scrape = Scrape.parse(LAG_TEXT)
    assert (scrape.checks, scrape.shed, scrape.fold_backlog_age) == (100.0, 3.0, 7.0)
    assert scrape.fold_backlog is None
    assert scrape.lag_buckets == {0.01: 80.0, 0.1: 90.0, 1.0: 100.0, float("inf"): 100.0}


def test_lag_quantiles_come_from_what_was_observed_between_two_scrapes() -> None:
    before = {0.01: 80.0, 0.1: 90.0, 1.0: 100.0, float("inf"): 100.0}
    # Since then: 10 more checks, all between 0.1 and 1 s late.
    after = {0.01: 80.0, 0.1: 90.0, 1.0: 110.0, float("inf"): 110.0}
    assert histogram_quantile(before, after, 0.5) == pytest.approx(0.55)
    assert histogram_quantile(before, after, 0.99) == pytest.approx(0.991)
    assert histogram_quantile(after, after, 0.5) is None  # nothing observed


def test_a_quantile_beyond_the_last_bucket_is_its_bound() -> None:
    after = {0.1: 1.0, 1.0: 1.0, float("inf"): 10.0}
    assert histogram_quantile({}, after, 0.99) == 1.0


needs_pg = pytest.mark.skipif(SKIP_PG, reason="UPTALLY_TEST_POSTGRES=skip")


@pytest.mark.e2e
@needs_pg
async def test_the_scale_run_in_a_tiny_mode_reports_every_figure(tmp_path: Path) -> None:
    run = ["run", "--monitors", "50", "--interval", "10", "--minutes", str(25 / 60)]
    deployment = ["--servers", "1", "--agents", "1", "--sample", "5", "--concurrency", "4"]
    await main([*run, *deployment, "--out", str(tmp_path), "--name", "tiny"])
    report = json.loads((tmp_path / "tiny.json").read_text())
    assert (tmp_path / "tiny.md").read_text().startswith("# Scale run: 50 HTTP monitors")
    assert report["deployment"] == {"servers": 1, "agents": 1, "database": "postgresql"}
    assert report["create_api"]["monitors"] == 50 and report["create_api"]["total_seconds"] > 0
    assert report["create_apply"]["exit_status"] == 0
    assert report["create_apply"]["monitors"] == 50
    samples = report["samples"]
    assert len(samples) >= 3
    for sample in samples:
        assert {
            "t",
            "stored_per_second",
            "shed",
            "lag_p50_ms",
            "lag_p99_ms",
            "fold_backlog_marks",
            "fold_backlog_age_s",
            "metrics_ms",
            "sla_p99_ms",
            "credits_max_ms",
            "rss_mb",
            "cores",
        } <= set(sample)
        assert {"serve-0", "agent-0", "target", "postgres"} <= set(sample["rss_mb"])
    assert samples[-1]["stored_total"] > 0, "the agent's checks reached the database"
    summary = report["summary"]
    assert summary["read_error_count"] == 0, summary["read_errors"]
    assert summary["sla_p99_ms_max"] > 0 and summary["metrics_max_ms"] > 0
    assert report["storage"]["check_results_rows"] > 0
    assert report["storage"]["bytes_per_result"] > 0
    assert set(report["verdict"]) >= {"lag p99 < 1 s", "SLA p99 < 200 ms", "nothing shed"}


@pytest.mark.e2e
@needs_pg
async def test_the_all_in_benchmark_in_a_tiny_mode_compares_the_engines(tmp_path: Path) -> None:
    allin = ["allin", "--rate", "20", "--seconds", "5", "--rounds", "1", "--interval", "2"]
    await main([*allin, "--out", str(tmp_path), "--name", "tiny"])
    report = json.loads((tmp_path / "tiny.json").read_text())
    result = report["rates"]["20.0"]
    ours = result["best"]["uptally"]
    assert ours["stored"] > 0 and ours["checks"] > 0
    assert ours["serve_cpu_seconds"] > 0 and ours["postgres_cpu_seconds"] > 0
    assert ours["ms_per_check"] > 0
    assert {"lag_p50_seconds", "lag_p99_seconds", "shed", "fold_backlog_marks"} <= set(ours)
    assert result["best"]["aiohttp"]["ok"] > 0
    assert "uptally_per_aiohttp" in result["ratios"]
    if shutil.which("prometheus-blackbox-exporter"):
        assert result["best"]["blackbox"]["ok"] > 0, "the exporter answered with success"
        assert "uptally_per_blackbox" in result["ratios"]
    assert "| ratios |" in (tmp_path / "tiny.md").read_text()


@pytest.mark.e2e
@needs_pg
async def test_the_whole_box_mode_splits_the_monitors_between_serve_processes(
    tmp_path: Path,
) -> None:
    allin = ["allin", "--rate", "20", "--seconds", "5", "--rounds", "1", "--interval", "2"]
    await main([*allin, "--processes", "2", "--engines", "uptally", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "allin.json").read_text())
    ours = report["rates"]["20.0"]["best"]["uptally"]
    assert report["processes"] == ours["processes"] == 2
    # Each process probed its own location's half (not every monitor: together they
    # did the rate once, 20/s over ~5 s), and the results of both were stored.
    low, high = sorted(ours["checks_per_process"])
    assert low > 0 and high <= 2 * low + 5, ours["checks_per_process"]
    assert 50 <= low + high <= 150, ours["checks_per_process"]
    assert ours["stored"] > high
    assert "uptally serve x2, all in" in (tmp_path / "allin.md").read_text()


async def test_a_read_that_outlasts_a_sample_counts_in_the_next_one() -> None:
    """A credits read at 40,000 services takes longer than a 10 s sample: it must land
    in the sample it ends in (it once went to the list its sample began with, which
    the take had already replaced, and no credits read was ever counted)."""
    release = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    readers = Readers([base], services=1, credits_every=30)
    async with server, httpx.AsyncClient() as client:
        read = asyncio.create_task(readers.timed(client, f"{base}/credits", "credits", 10))
        await asyncio.sleep(0.05)
        first = readers.take()
        release.set()
        await read
        second = readers.take()
    assert (first["credits_n"], second["credits_n"]) == (0, 1)
    assert second["credits_max_ms"] >= 50 and readers.errors == []
