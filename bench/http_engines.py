"""CPU per HTTP check, engine by engine (``python -m bench.http_engines [--quick]``).

Each candidate runs the real probe path (resolve ``localhost`` through the SSRF guard,
connect to the address it allows with the name as Host header and TLS server name,
redirects hop by hop, body limit, phase timings) against a minimal local target, at a
fixed rate, in a process of its own, whose CPU time (all threads: the resolver's too)
is divided by the checks it completed. Modes: plain HTTP, HTTPS with verification (a
throwaway CA the engine trusts) and HTTPS without. Candidates:

- ``httpx`` on asyncio and on uvloop: the probe as it was (bench/legacy_httpx_probe.py);
- ``httpx-aiohttp`` on uvloop: that same probe over httpx-aiohttp's transport;
- ``aiohttp`` on asyncio and on uvloop: today's probe (probes/http.py);
- ``bare aiohttp`` on asyncio and on uvloop: ``session.get`` of the address, fresh
  connection each, no DNS, no checks: the floor.

Rounds are interleaved (every candidate once per round, in turn) and the best of the
rounds is reported, so a burst of load from something else on the machine hurts one
round, not one candidate. Results: bench/results/http_engines.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"

ENGINES = {
    # name: (client, loop)
    "httpx/asyncio": ("httpx", "asyncio"),
    "httpx/uvloop": ("httpx", "uvloop"),
    "httpx-aiohttp/uvloop": ("httpx-aiohttp", "uvloop"),
    "aiohttp/asyncio": ("aiohttp", "asyncio"),
    "aiohttp/uvloop": ("aiohttp", "uvloop"),
    "bare aiohttp/asyncio": ("bare", "asyncio"),
    "bare aiohttp/uvloop": ("bare", "uvloop"),
}
MODES = ("http", "https", "https-noverify")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------ the TLS target


async def tls_target(port: int, cert: str, key: str) -> None:
    from bench.target import Answer

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answer, "127.0.0.1", port, ssl=context, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# ------------------------------------------------------------------ a candidate


def make_check(
    client: str, mode: str, url: str, ca: str
) -> tuple[
    Callable[[], Awaitable[tuple[bool, str, tuple[str, ...]]]], Callable[[], Awaitable[None]]
]:
    """The candidate's check (ok, error, timing names) and how to close it."""
    from probes.guard import AddressPolicy

    policy = AddressPolicy(allow_private=True)
    verify = mode != "https-noverify"
    trust = ssl.create_default_context(cafile=ca if mode != "http" else None)
    if client in ("httpx", "httpx-aiohttp"):
        from bench import legacy_httpx_probe as legacy

        transports = None
        if client == "httpx-aiohttp":
            import aiohttp
            from httpx_aiohttp import AiohttpTransport

            def transport(context: ssl.SSLContext | bool) -> AiohttpTransport:
                connector = aiohttp.TCPConnector(force_close=True, limit=0, ssl=context)
                session = aiohttp.ClientSession(connector=connector)
                return AiohttpTransport(client=session)

            transports = (transport(trust), transport(False))
        old_clients = legacy.HttpClients(verify=trust, transports=transports)
        old_options = legacy.HttpOptions(verify_tls=verify)

        async def old_check() -> tuple[bool, str, tuple[str, ...]]:
            result = await legacy.check_http(url, old_options, 5.0, old_clients, policy)
            return result.ok, result.error or "", tuple(result.timings)

        return old_check, old_clients.aclose
    if client == "aiohttp":
        from probes.http import HttpClients, HttpOptions, check_http

        clients = HttpClients(verify=trust)
        options = HttpOptions(verify_tls=verify)

        async def new_check() -> tuple[bool, str, tuple[str, ...]]:
            result = await check_http(url, options, 5.0, clients, policy)
            return result.ok, result.error or "", tuple(result.timings)

        return new_check, clients.aclose
    import aiohttp

    address_url = url.replace("localhost", "127.0.0.1")
    bare_ssl: ssl.SSLContext | bool = False
    if mode == "https":
        bare_ssl = ssl.create_default_context(cafile=ca)
        bare_ssl.check_hostname = False  # the address is not the certificate's name
    session: aiohttp.ClientSession | None = None

    async def bare_check() -> tuple[bool, str, tuple[str, ...]]:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=0)
            )
        async with session.get(address_url, ssl=bare_ssl) as response:
            await response.read()
            return response.status == 200, "", ()

    async def bare_close() -> None:
        if session is not None:
            await session.close()

    return bare_check, bare_close


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    client, _ = ENGINES[args.engine]
    check, close = make_check(client, args.mode, args.url, args.ca)
    counts = {"ok": 0, "failed": 0}
    errors: dict[str, int] = {}
    phases: set[str] = set()

    async def one() -> None:
        try:
            ok, error, timings = await check()
        except Exception as exc:  # the bare loop has no probe around it
            ok, error, timings = False, f"{type(exc).__name__}: {exc}", ()
        counts["ok" if ok else "failed"] += 1
        if error:
            errors[error[:120]] = errors.get(error[:120], 0) + 1
        phases.update(timings)

    async def at_rate(seconds: float) -> None:
        """Start checks at ``args.rate`` for ``seconds``, then wait for all to end."""
        running: set[asyncio.Task[None]] = set()
        started = time.perf_counter()
        launched = 0
        while (now := time.perf_counter()) < started + seconds:
            due = int((now - started) * args.rate)
            while launched < due:
                task = asyncio.create_task(one())
                running.add(task)
                task.add_done_callback(running.discard)
                launched += 1
            await asyncio.sleep(0.01)
        if running:
            await asyncio.wait(running, timeout=30)

    # Warm-up (first connections, caches), not counted; then the measured window, from
    # the first check started to the last one ended.
    await at_rate(args.warmup)
    counts.update(ok=0, failed=0)
    errors.clear()
    cpu0, window0 = cpu_seconds(), time.perf_counter()
    await at_rate(args.duration)
    cpu = cpu_seconds() - cpu0
    seconds = time.perf_counter() - window0
    await close()
    done = counts["ok"] + counts["failed"]
    return {
        "engine": args.engine,
        "mode": args.mode,
        "rate": args.rate,
        "seconds": round(seconds, 3),
        "checks": done,
        "ok": counts["ok"],
        "errors": errors,
        "phases": sorted(phases),
        "cpu_seconds": round(cpu, 4),
        "cpu_ms_per_check": round(cpu * 1000 / done, 4) if done else None,
    }


def run_worker(args: argparse.Namespace) -> None:
    _, loop = ENGINES[args.engine]
    if loop == "uvloop":
        import uvloop

        result = uvloop.run(worker(args))
    else:
        result = asyncio.run(worker(args))
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------ coordinator


def start(command: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{command} did not start")
    return process


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import trustme

    folder = Path(tempfile.mkdtemp(prefix="uptally-bench-"))
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "key.pem"))
    http_port, https_port = free_port(), free_port()
    python = sys.executable
    targets = [
        start([python, "-m", "bench.target", str(http_port)]),
        start(
            [
                python,
                "-m",
                "bench.http_engines",
                "--role",
                "tls-target",
                "--port",
                str(https_port),
                "--cert",
                str(folder / "cert.pem"),
                "--key",
                str(folder / "key.pem"),
            ]
        ),
    ]
    urls = {
        "http": f"http://localhost:{http_port}/",
        "https": f"https://localhost:{https_port}/",
        "https-noverify": f"https://localhost:{https_port}/",
    }
    runs: list[dict[str, Any]] = []
    try:
        for round_number in range(args.rounds):
            for mode in args.modes:
                for engine in args.engines:
                    rate = args.rate if mode == "http" else args.tls_rate
                    command = [
                        python,
                        "-m",
                        "bench.http_engines",
                        "--role",
                        "worker",
                        "--engine",
                        engine,
                        "--mode",
                        mode,
                        "--url",
                        urls[mode],
                        "--ca",
                        str(folder / "ca.pem"),
                        "--rate",
                        str(rate),
                        "--warmup",
                        str(args.warmup),
                        "--duration",
                        str(args.duration),
                    ]
                    output = subprocess.run(
                        command, capture_output=True, text=True, timeout=300, check=True
                    )
                    run = json.loads(output.stdout.strip().splitlines()[-1])
                    run["round"] = round_number + 1
                    runs.append(run)
                    print(
                        f"round {round_number + 1} {mode:15} {engine:22} "
                        f"{run['cpu_ms_per_check']} ms/check, {run['checks']} checks, "
                        f"{run['checks'] - run['ok']} failed, phases {','.join(run['phases'])}",
                        flush=True,
                    )
    finally:
        for target in targets:
            target.terminate()
            target.wait()
        shutil.rmtree(folder, ignore_errors=True)
    best: dict[str, dict[str, Any]] = {}
    for mode in args.modes:
        best[mode] = {}
        for engine in args.engines:
            mine = [
                r
                for r in runs
                if r["mode"] == mode and r["engine"] == engine and r["cpu_ms_per_check"]
            ]
            if mine:
                top = min(mine, key=lambda r: r["cpu_ms_per_check"])
                best[mode][engine] = {
                    "cpu_ms_per_check": top["cpu_ms_per_check"],
                    "all_rounds": [r["cpu_ms_per_check"] for r in mine],
                    "checks_per_s": round(top["checks"] / top["seconds"], 1),
                    "failed": top["checks"] - top["ok"],
                    "phases": top["phases"],
                }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, shared with other work (noisy)",
        "settings": {
            "rate_http": args.rate,
            "rate_https": args.tls_rate,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "rounds": args.rounds,
        },
        "best": best,
        "runs": runs,
    }


def write(report: dict[str, Any], name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    settings = report["settings"]
    lines = [
        "# CPU per HTTP check, by engine",
        "",
        f"Measured {report['when']} on {report['machine']}: `python -m bench.http_engines`. "
        f"{settings['rounds']} interleaved round(s), best shown (every round in the JSON); "
        f"{settings['duration_s']} s measured after {settings['warmup_s']} s of warm-up, at "
        f"{settings['rate_http']} checks/s over HTTP and {settings['rate_https']} over HTTPS, "
        "against a minimal local target. CPU is the checking process's own (all threads).",
        "",
    ]
    engines = list(ENGINES)
    modes = list(report["best"])
    lines.append("| engine | " + " | ".join(f"{m} (ms)" for m in modes) + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in modes) + " |")
    for engine in engines:
        cells = []
        for mode in modes:
            entry = report["best"][mode].get(engine)
            cells.append("—" if entry is None else f"{entry['cpu_ms_per_check']:.3f}")
        if any(c != "—" for c in cells):
            lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Phase timings each candidate reported (the bare loop reports none):",
        "",
    ]
    for mode in modes:
        for engine, entry in report["best"][mode].items():
            if entry["failed"]:
                lines.append(f"- {mode} {engine}: {entry['failed']} checks failed (see JSON)")
        phases = {e: ",".join(v["phases"]) for e, v in report["best"][mode].items()}
        lines.append(f"- {mode}: " + "; ".join(f"{e}: {p or '—'}" for e, p in phases.items()))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="coordinator")
    parser.add_argument("--quick", action="store_true", help="one short round (under 2 min)")
    parser.add_argument("--engine", choices=list(ENGINES))
    parser.add_argument("--engines", nargs="*", default=list(ENGINES))
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--url")
    parser.add_argument("--ca")
    parser.add_argument("--port", type=int)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--rate", type=float, default=500.0, help="checks/s over HTTP")
    parser.add_argument("--tls-rate", type=float, default=250.0, help="checks/s over HTTPS")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="http_engines", help="results file name")
    args = parser.parse_args()
    if args.role == "worker":
        run_worker(args)
        return
    if args.role == "tls-target":
        import uvloop

        uvloop.run(tls_target(args.port, args.cert, args.key))
        return
    if args.quick:
        args.rounds, args.warmup, args.duration = 1, 0.5, 2.5
        args.modes = ["http", "https"]
    name = f"{args.name}-quick" if args.quick else args.name
    write(measure(args), name)
    print((RESULTS / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
