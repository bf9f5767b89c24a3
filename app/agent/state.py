"""Where an agent keeps its state, and where its token comes from.

The token is a secret: on the command line (``--token``) every local user sees it in
``ps``, so it is read from ``UPTALLY_AGENT_TOKEN`` or a file (``--token-file``, e.g. a
systemd credential or a Kubernetes secret) instead; ``--token`` still works, with a
warning.

The results buffer lives in a state directory, not the working directory (which may
be read-only, or shared): ``--state-dir``, else systemd's ``$STATE_DIRECTORY`` (from
``StateDirectory=uptally``), else ``$XDG_STATE_HOME/uptally``, else
``~/.local/state/uptally``. It is created readable by its owner only (0700), and the
buffer file too (0600): buffered results name customers' targets and errors.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

TOKEN_VARIABLE = "UPTALLY_AGENT_TOKEN"


class AgentSetupError(Exception):
    """The agent cannot start as configured; the message says what to change."""


def agent_token(
    token: str | None, token_file: str | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """The token and where it came from: ``--token-file``, ``--token``, or
    ``UPTALLY_AGENT_TOKEN``, in that order; exactly one of the flags may be given."""
    if token is not None and token_file is not None:
        raise AgentSetupError("give --token or --token-file, not both")
    if token_file is not None:
        try:
            text = Path(token_file).read_text().strip()
        except OSError as exc:
            raise AgentSetupError(f"--token-file {token_file}: {exc.strerror}") from None
        if not text:
            raise AgentSetupError(f"--token-file {token_file}: the file is empty")
        return text, f"--token-file {token_file}"
    if token is not None:
        return token, "--token"
    from_env = environ.get(TOKEN_VARIABLE, "").strip()
    if from_env:
        return from_env, TOKEN_VARIABLE
    raise AgentSetupError(
        f"the agent needs its key: set {TOKEN_VARIABLE}, or give --token-file PATH "
        "(create one with 'uptally keys create --scope agent --location NAME')"
    )


def state_directory(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """The state directory to use (not created yet)."""
    if explicit:
        return Path(explicit).expanduser()
    systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the spec says to ignore a relative one
        return Path(xdg) / "uptally"
    return Path.home() / ".local" / "state" / "uptally"


def prepare_buffer(directory: Path, location: str) -> Path:
    """Create ``directory`` (0700) if need be and the buffer file in it (0600); return
    the file's path. Raises ``AgentSetupError`` saying what could not be done."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise AgentSetupError(
            f"cannot create the state directory {directory}: {exc.strerror}; "
            "give --state-dir DIR (a directory the agent may write)"
        ) from None
    return private_file(directory / f"agent-{location}.db")


def private_file(path: Path) -> Path:
    """Create ``path`` readable by its owner only, or check an existing one is
    writable; SQLite gives its -wal and -shm files the same permissions."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(descriptor)
    except OSError as exc:
        raise AgentSetupError(f"cannot write the buffer {path}: {exc.strerror}") from None
    return path


def too_open(path: Path) -> bool:
    """Whether group or others may read ``path`` (worth a warning for a secret)."""
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
