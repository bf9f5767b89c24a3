"""Memory under oversized bodies: the server's RSS while the attacks of issue 8 run.

Each scenario starts a fresh ``uptally serve`` (SQLite, a temporary directory, only on
127.0.0.1), reads its VmRSS and VmHWM from /proc/PID/status, sends the requests, and
reads them again; ``/healthz`` is timed meanwhile, once a request is answered. Every
loop is bounded: a few requests per scenario, nothing is retried.

    .venv/bin/python -m bench.memory --label after [--scenario NAME ...]

Results go to bench/results/memory-LABEL.json; bench/results/memory.md is written from
every memory-*.json there (so a run before a change and one after sit side by side).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.e2e_server import Server, running_server
from tests.helpers import policy_body, service_body

RESULTS = Path(__file__).parent / "results"
TOKEN = "test-admin-token"  # what tests.e2e_server gives the server
MB = 1_000_000
ROW = b'{"monitor_id":1,"location":"local","checked_at":"2025-06-01T12:00:00Z","ok":true}'


def junk_customer(size: int) -> bytes:
    """A customer with ``size`` bytes of small JSON objects in an unknown field: the
    costliest shape to parse per byte (a dict per 8 bytes)."""
    head, tail = b'{"slug":"acme","name":"Acme","padding":[', b"]}"
    count = (size - len(head) - len(tail)) // 8
    return head + b",".join([b'{"k":0}'] * count) + tail


def minimal_rows(count: int) -> bytes:
    return b'{"results":[' + b",".join([ROW] * count) + b"]}"


def rows_within(size: int) -> bytes:
    """As many minimal rows as fit in ``size`` bytes."""
    return minimal_rows((size - 14) // (len(ROW) + 1))


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of ``pid``, in kB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0])
    return figures


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The body as a stream, so httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@dataclass(frozen=True)
class Attack:
    name: str
    what: str
    path: str
    body: Callable[[], bytes]
    token: str | None = TOKEN
    parallel: int = 1
    chunked: bool = False
    prepare: Callable[[Server], None] | None = None


def send(server: Server, attack: Attack, body: bytes) -> str:
    headers = {"Content-Type": "application/json"}
    if attack.token:
        headers["Authorization"] = f"Bearer {attack.token}"
    content: bytes | Iterator[bytes] = chunks(body) if attack.chunked else body
    try:
        response = httpx.post(
            server.url + attack.path, content=content, headers=headers, timeout=300
        )
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return str(response.status_code)


def healthz_while(server: Server, done: threading.Event) -> float:
    """The slowest ``/healthz`` answer (seconds) until ``done`` (at most 2,000 calls)."""
    slowest = 0.0
    for _ in range(2_000):
        if done.is_set():
            break
        started = time.perf_counter()
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(server.url + "/healthz", timeout=60)
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.05)
    return slowest


def with_monitor(server: Server) -> None:
    """A customer, policy, service and monitor (id 1, location "local") to send to."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    api = server.url + "/api/v1"

    def create(path: str, body: dict[str, Any]) -> int:
        response = httpx.post(api + path, json=body, headers=headers, timeout=30)
        response.raise_for_status()
        ident: int = response.json()["id"]
        return ident

    customer = create("/customers", {"slug": "acme", "name": "Acme"})
    policy = create("/sla-policies", policy_body())
    service = create("/services", service_body(customer, policy))
    monitor = create(
        "/monitors",
        {"service_id": service, "name": "home", "kind": "tcp", "target": "127.0.0.1:9"},
    )
    assert monitor == 1, monitor


def full_batch() -> bytes:
    """A legitimate maximal batch: 10,000 rows of monitor 1, every field set, a
    200-character error each, a second apart over the last hours."""
    start = int(time.time()) - 20_000
    rows = [
        {
            "monitor_id": 1,
            "location": "local",
            "checked_at": datetime.fromtimestamp(start + i, UTC).isoformat(),
            "ok": False,
            "latency_ms": 30_000,
            "status_code": 503,
            "error": "connection refused by the upstream; " + "e" * 164,
            "interval_seconds": 60,
        }
        for i in range(10_000)
    ]
    return json.dumps({"results": rows}, separators=(",", ":")).encode()


ATTACKS = [
    Attack(
        "customers-30mb-no-token",
        "30 MB JSON to POST /api/v1/customers, no token",
        "/api/v1/customers",
        lambda: junk_customer(30 * MB),
        token=None,
    ),
    Attack(
        "customers-30mb-no-token-x4",
        "the same, four in parallel",
        "/api/v1/customers",
        lambda: junk_customer(30 * MB),
        token=None,
        parallel=4,
    ),
    Attack(
        "customers-30mb-bad-token-x4",
        "30 MB to POST /api/v1/customers with an unknown token, four in parallel",
        "/api/v1/customers",
        lambda: junk_customer(30 * MB),
        token="upt_not-a-key",
        parallel=4,
    ),
    Attack(
        "customers-1mib-bad-token-x4",
        "1 MiB (the cap) to POST /api/v1/customers with an unknown token, four in parallel",
        "/api/v1/customers",
        lambda: junk_customer(1024 * 1024),
        token="upt_not-a-key",
        parallel=4,
    ),
    Attack(
        "customers-30mb-chunked-admin",
        "30 MB chunked (no Content-Length) to POST /api/v1/customers, admin token",
        "/api/v1/customers",
        lambda: junk_customer(30 * MB),
        chunked=True,
    ),
    Attack(
        "results-1e6-rows-admin",
        "1,000,000-row batch (82 MB) to POST /api/v1/results, admin token",
        "/api/v1/results",
        lambda: minimal_rows(1_000_000),
    ),
    Attack(
        "results-16mib-rows-admin",
        "16 MiB of minimal rows (about 200,000) to POST /api/v1/results, admin token",
        "/api/v1/results",
        lambda: rows_within(16 * 1024 * 1024),
    ),
    Attack(
        "results-16mib-empty-objects-admin",
        "16 MiB of empty objects (5.6 million rows of {}) to POST /api/v1/results, admin token",
        "/api/v1/results",
        lambda: b'{"results":[' + b",".join([b"{}"] * ((16 * 1024 * 1024 - 14) // 3)) + b"]}",
    ),
    Attack(
        "results-10k-full-rows-admin",
        "a legitimate 10,000-row batch (every field, 200-char errors: 3.6 MB), admin token",
        "/api/v1/results",
        full_batch,
        prepare=with_monitor,
    ),
]


def run(attack: Attack, workdir: Path) -> dict[str, Any]:
    body = attack.body()
    database = workdir / f"{attack.name}.db"
    env = {"UPTALLY_LOG_LEVEL": "warning"}
    with running_server(f"sqlite+aiosqlite:///{database}", workdir, env=env) as server:
        if attack.prepare is not None:
            attack.prepare(server)
        httpx.get(server.url + "/api/v1/customers", headers={"Authorization": f"Bearer {TOKEN}"})
        time.sleep(1)
        pid = server.process.pid
        before = memory(pid)
        done = threading.Event()
        started = time.perf_counter()
        with ThreadPoolExecutor(attack.parallel + 1) as pool:
            health = pool.submit(healthz_while, server, done)
            answers = list(pool.map(lambda _: send(server, attack, body), range(attack.parallel)))
            seconds = time.perf_counter() - started
            done.set()
            slowest_healthz = health.result()
        time.sleep(1)
        after = memory(pid)
    return {
        "name": attack.name,
        "what": attack.what,
        "body_bytes": len(body),
        "answers": answers,
        "seconds": round(seconds, 2),
        "rss_before_kb": before["VmRSS"],
        "hwm_before_kb": before["VmHWM"],
        "rss_after_kb": after["VmRSS"],
        "hwm_after_kb": after["VmHWM"],
        "slowest_healthz_s": round(slowest_healthz, 3),
    }


def mb(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB"


def write_markdown() -> None:
    lines = [
        "# Memory under oversized bodies (`python -m bench.memory`)",
        "",
        "A fresh `uptally serve` (SQLite) per scenario; VmRSS before, VmHWM (peak) and",
        "VmRSS after, from /proc/PID/status; the slowest `/healthz` while it ran.",
    ]
    for path in sorted(RESULTS.glob("memory-*.json")):
        run_data = json.loads(path.read_text())
        lines += [
            "",
            f"## {run_data['label']}",
            "",
            f"Measured {run_data['measured']} on {run_data['machine']}. {run_data['note']}",
            "",
            "| scenario | answers | seconds | RSS before | peak (VmHWM) | RSS after "
            "| slowest /healthz |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in run_data["scenarios"]:
            lines.append(
                f"| {row['what']} | {', '.join(row['answers'])} | {row['seconds']} "
                f"| {mb(row['rss_before_kb'])} | {mb(row['hwm_after_kb'])} "
                f"| {mb(row['rss_after_kb'])} | {row['slowest_healthz_s']} s |"
            )
    (RESULTS / "memory.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="names the results file")
    parser.add_argument("--note", default="", help="a sentence for the report")
    parser.add_argument(
        "--scenario", action="append", choices=[a.name for a in ATTACKS], help="default: all"
    )
    args = parser.parse_args()
    chosen = [a for a in ATTACKS if not args.scenario or a.name in args.scenario]
    scenarios = []
    with tempfile.TemporaryDirectory(prefix="uptally-memory-") as tmp:
        for attack in chosen:
            result = run(attack, Path(tmp))
            print(json.dumps(result), flush=True)
            scenarios.append(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"memory-{args.label}.json").write_text(
        json.dumps(
            {
                "label": args.label,
                "note": args.note,
                "measured": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, Python {sys.version.split()[0]}",
                "scenarios": scenarios,
            },
            indent=2,
        )
        + "\n"
    )
    write_markdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
