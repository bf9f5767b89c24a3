"""The agent's token and state: from the environment or a file (never needing the
command line, where ``ps`` shows it), and a buffer in a private state directory
instead of the working directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.agent.state import AgentSetupError, agent_token, prepare_buffer, state_directory
from app.cli import main
from tests.e2e_server import running_server
from tests.helpers import free_port
from tests.probes.conftest import serve_http
from tests.test_e2e_monitoring import PRIVATE_OK, catalog, wait_for

CLI = (sys.executable, "-m", "app.cli")


def test_the_token_comes_from_a_file_the_flag_or_the_environment(tmp_path: Path) -> None:
    env = {"UPTALLY_AGENT_TOKEN": " upt_env \n"}
    assert agent_token(None, None, env) == ("upt_env", "UPTALLY_AGENT_TOKEN")
    assert agent_token("upt_flag", None, env) == ("upt_flag", "--token")
    secret = tmp_path / "token"
    secret.write_text("upt_file\n")
    assert agent_token(None, str(secret), env) == ("upt_file", f"--token-file {secret}")
    with pytest.raises(AgentSetupError, match="set UPTALLY_AGENT_TOKEN, or give --token-file"):
        agent_token(None, None, {})
    with pytest.raises(AgentSetupError, match="not both"):
        agent_token("upt_flag", str(secret), env)
    with pytest.raises(AgentSetupError, match="No such file or directory"):
        agent_token(None, str(tmp_path / "missing"), env)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(AgentSetupError, match="the file is empty"):
        agent_token(None, str(tmp_path / "empty"), env)


def test_the_state_directory_follows_flag_systemd_then_xdg(tmp_path: Path) -> None:
    home = Path.home()
    assert state_directory(str(tmp_path / "s"), {"STATE_DIRECTORY": "/x"}) == tmp_path / "s"
    assert state_directory(None, {"STATE_DIRECTORY": "/var/lib/u:/other"}) == Path("/var/lib/u")
    assert state_directory(None, {"XDG_STATE_HOME": "/xdg"}) == Path("/xdg/uptally")
    assert state_directory(None, {"XDG_STATE_HOME": "relative"}) == home / ".local/state/uptally"
    assert state_directory(None, {}) == home / ".local/state/uptally"


def test_the_buffer_is_created_private(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "uptally"
    buffer = prepare_buffer(directory, "fra")
    assert buffer == directory / "agent-fra.db"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(buffer.stat().st_mode) == 0o600
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AgentSetupError, match=f"cannot create the state directory {blocker}/s"):
        prepare_buffer(blocker / "s", "fra")


def test_an_agent_without_a_token_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("UPTALLY_AGENT_TOKEN", raising=False)
    assert main(["agent", "--server", "http://127.0.0.1:9", "--location", "fra"]) == 2
    assert "the agent needs its key: set UPTALLY_AGENT_TOKEN" in capsys.readouterr().err


@pytest.mark.e2e
def test_an_agent_takes_its_token_from_the_environment_and_keeps_state_privately(
    tmp_path: Path,
) -> None:
    database = tmp_path / "server.db"
    url_db = f"sqlite+aiosqlite:///{database}"
    workdir, xdg = tmp_path / "work", tmp_path / "xdg"
    workdir.mkdir()
    target = free_port()
    with serve_http(port=target), running_server(url_db, tmp_path, env=PRIVATE_OK) as server:
        _, monitor_id = catalog(
            server.url, target=f"http://127.0.0.1:{target}/ok", locations=["edge"]
        )
        token = subprocess.run(
            [*CLI, "keys", "create", "--scope", "agent", "--location", "edge"],
            env={**os.environ, "UPTALLY_DATABASE_URL": url_db},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        root = str(Path(__file__).resolve().parents[2])
        agent = subprocess.Popen(
            [
                *CLI,
                "agent",
                "--server",
                server.url,
                "--location",
                "edge",
                "--poll",
                "1",
                "--spread",
                "0",
                "--allow-private",
            ],
            cwd=workdir,
            env={
                **os.environ,
                "PYTHONPATH": root,
                "UPTALLY_AGENT_TOKEN": token,
                "XDG_STATE_HOME": str(xdg),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            cmdline = Path(f"/proc/{agent.pid}/cmdline").read_bytes()
            assert token.encode() not in cmdline  # not for ps to show
            results = f"{server.url}/api/v1/monitors/{monitor_id}/results"
            wait_for(
                lambda: httpx.get(
                    results, headers={"Authorization": "Bearer test-admin-token"}
                ).json()["total"],
                "a result pushed by the agent",
            )
        finally:
            agent.terminate()
            output = agent.communicate(timeout=20)[0].decode()
    state = xdg / "uptally"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "agent-edge.db").stat().st_mode) == 0o600
    assert list(workdir.iterdir()) == []  # nothing in the working directory
    assert "--token" not in output  # no warning: the token came from the environment
