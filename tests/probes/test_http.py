"""The HTTP probe against real local HTTP and HTTPS servers."""

from __future__ import annotations

from typing import Any

import pytest

from probes.registry import ProbeContext, run_probe
from tests.helpers import free_port


async def http(ctx: ProbeContext, url: str, timeout: float = 5, **options: Any):
    return await run_probe("http", url, options, timeout, ctx)


async def test_ok_page_with_timings(ctx: ProbeContext, http_url: str) -> None:
    result = await http(ctx, f"{http_url}/ok", keyword="Welcome")
    assert result.ok, result.error
    assert result.status_code == 200
    assert {"dns", "connect", "first_byte", "total"} <= set(result.timings)
    assert "tls" not in result.timings
    assert result.latency_ms is not None


async def test_https_measures_tls_and_sends_sni_and_host(ctx: ProbeContext, https_url: str) -> None:
    result = await http(ctx, f"{https_url}/host")
    assert result.ok, result.error
    assert result.timings["tls"] > 0
    # Connected to the resolved address, yet the server saw the name.
    assert result.details["final_url"].startswith("https://localhost:")


async def test_the_host_header_carries_the_name_not_the_address(
    ctx: ProbeContext, http_url: str
) -> None:
    port = http_url.rsplit(":", 1)[1]
    result = await http(ctx, f"{http_url}/host", keyword=f"localhost:{port}")
    assert result.ok, result.error


async def test_untrusted_certificate_fails_unless_verification_is_off(
    http_url: str, https_url: str
) -> None:
    from tests.probes.conftest import LOOPBACK

    plain = ProbeContext(policy=LOOPBACK)  # the system trust store: not our test CA
    try:
        refused = await http(plain, f"{https_url}/ok")
        assert not refused.ok
        assert "TLS verification failed" in (refused.error or "")
        lenient = await http(plain, f"{https_url}/ok", verify_tls=False)
        assert lenient.ok, lenient.error
    finally:
        await plain.aclose()


@pytest.mark.parametrize(
    ("path", "options", "error"),
    [
        ("/status/503", {}, "status 503, expected 200-399"),
        ("/status/204", {"expected_status": [200]}, "status 204, expected 200"),
        ("/ok", {"keyword": "Goodbye"}, "keyword 'Goodbye' not found"),
        ("/ok", {"keyword": "Welcome", "keyword_absent": True}, "keyword 'Welcome' is present"),
        ("/json", {"json_path": "$.status.db", "json_expected": "down"}, "is 'up', expected"),
        ("/json", {"json_path": "$.status.cache"}, "json_path $.status.cache"),
        ("/ok", {"json_path": "$.a"}, "json_path $.a"),
        ("/loop", {}, "redirects"),
    ],
)
async def test_failed_assertions_are_results_with_a_reason(
    ctx: ProbeContext, http_url: str, path: str, options: dict[str, Any], error: str
) -> None:
    result = await http(ctx, f"{http_url}{path}", **options)
    assert not result.ok
    assert error in (result.error or "")


async def test_json_path_and_status_list_pass(ctx: ProbeContext, http_url: str) -> None:
    result = await http(
        ctx, f"{http_url}/json", json_path="$.items[0]", json_expected=7, expected_status=[200, 201]
    )
    assert result.ok, result.error


async def test_redirects_are_followed_or_not(ctx: ProbeContext, http_url: str) -> None:
    followed = await http(ctx, f"{http_url}/redirect", keyword="Welcome")
    assert followed.ok and followed.details["redirects"] == 1
    kept = await http(ctx, f"{http_url}/redirect", follow_redirects=False)
    assert kept.ok and kept.status_code == 302


async def test_post_with_body_and_headers(ctx: ProbeContext, http_url: str) -> None:
    result = await http(
        ctx,
        f"{http_url}/echo",
        method="POST",
        body="ping",
        headers={"X-Probe": "1"},
        keyword="posted:ping",
    )
    assert result.ok, result.error


async def test_slow_response_times_out(ctx: ProbeContext, http_url: str) -> None:
    # The answer would come 0.5 s after the 0.2 s budget is spent.
    result = await http(ctx, f"{http_url}/slow/0.7", timeout=0.2)
    assert not result.ok
    assert result.error == "timed out after 0.2 s"
    assert result.latency_ms is not None and result.latency_ms < 700  # gave up first


async def test_slow_but_passing_response_is_degraded(ctx: ProbeContext, http_url: str) -> None:
    result = await http(ctx, f"{http_url}/slow/0.15", timeout=5, degraded_latency_ms=100)
    assert result.ok and result.degraded
    assert result.latency_ms is not None and result.latency_ms >= 150
    assert result.warning == f"slow: {result.latency_ms} ms > 100 ms"


async def test_reset_connection_fails(ctx: ProbeContext, http_url: str) -> None:
    result = await http(ctx, f"{http_url}/reset")
    assert not result.ok
    assert "reset or closed" in (result.error or "")


async def test_refused_port_fails(ctx: ProbeContext) -> None:
    result = await http(ctx, f"http://127.0.0.1:{free_port()}/")
    assert not result.ok
    assert "connection failed" in (result.error or "")


async def test_loopback_is_refused_by_default(http_url: str) -> None:
    guarded = ProbeContext()
    try:
        result = await http(guarded, f"{http_url}/ok")
    finally:
        await guarded.aclose()
    assert not result.ok
    assert "loopback" in (result.error or "")
    assert "UPTALLY_ALLOW_PRIVATE_TARGETS" in (result.error or "")
