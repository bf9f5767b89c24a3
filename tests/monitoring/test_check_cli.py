"""``uptally check``: one check now, verdict and timings, exit code by verdict."""

from __future__ import annotations

import pytest

from app.cli import guess_kind, main


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("https://a.example/", "http"),
        ("db.example:5432", "tcp"),
        ("[::1]:22", "tcp"),
        ("a.example", "icmp"),
        ("2001:db8::1", "icmp"),
    ],
)
def test_the_kind_is_guessed_from_the_target(target: str, kind: str) -> None:
    assert guess_kind(target) == kind


def test_check_prints_the_verdict_and_phase_timings(
    http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", f"{http_url}/ok", "--allow-private", "--option", "keyword=Welcome"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("UP  http  ")
    assert "200" in out and "dns " in out and "connect " in out and "first_byte " in out


def test_a_failing_check_exits_1_with_the_reason(
    http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", f"{http_url}/status/503", "--allow-private"])
    out = capsys.readouterr().out
    assert code == 1
    assert "DOWN" in out and "status 503" in out


def test_loopback_is_refused_without_allow_private(
    http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", f"{http_url}/ok"]) == 1
    assert "loopback" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "db.example:99999"], "1 to 65535"),
        (["check", "https://a.example/", "--option", "record_type=A"], "do(es) not apply"),
        (["check", "https://a.example/", "--option", "nokey"], "expected KEY=VALUE"),
        (["check", "https://a.example/", "--option", "colour=red"], "colour"),
        (["check", "https://a.example/", "--option", "kind=tcp"], "--option kind: not an"),
        (["check", "https://a.example/", "--timeout", "0"], "greater than or equal to 1"),
        (["check", "a.example", "--kind", "dns", "--option", "resolver=a:b"], "resolver: "),
    ],
)
def test_bad_input_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
