"""A pouchdb-server (CouchDB API, in memory) for the tests that need a real database server.

``couch_url`` starts one per test session on a free 127.0.0.1 port and stops it afterwards. The binary
is ``$WHISTLE_POUCHDB`` or the checkout's ``.node/node_modules/.bin/pouchdb-server`` (``make install``).
It runs in admin-party mode (no admin user): pouchdb-server 4.2.0 crashes on unauthenticated writes once
an admin exists.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
STARTUP_DEADLINE = 30.0  # seconds; it usually answers within half a second
STOP_DEADLINE = 10.0


def pouchdb_binary() -> Path:
    """Where pouchdb-server is; fails the test session with what to do if it is not there."""
    configured = os.environ.get("WHISTLE_POUCHDB")
    binary = Path(configured) if configured else REPO / ".node" / "node_modules" / ".bin" / "pouchdb-server"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(
            f"pouchdb-server not found at {binary}: run `make install` (it installs pouchdb-server@4.2.0 "
            "under .node/) or point WHISTLE_POUCHDB at the pouchdb-server executable",
            pytrace=False,
        )
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=1.0).status_code == 200:  # it has no /_up
                return
        except httpx.TransportError:
            pass
        try:
            process.wait(timeout=0.05)  # doubles as the pause between attempts
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"pouchdb-server exited with {process.returncode}:\n{log.read_text()}", pytrace=False)
    pytest.fail(f"pouchdb-server did not answer at {url} within {STARTUP_DEADLINE} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # its own process group (start_new_session), ours alone
    try:
        process.wait(timeout=STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_DEADLINE)


@pytest.fixture(scope="session")
def couch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a pouchdb-server started for this test session."""
    binary = pouchdb_binary()
    workdir = tmp_path_factory.mktemp("pouchdb")  # it writes config.json and log.txt to its cwd
    log = workdir / "output.txt"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(binary), "--in-memory", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_until_up(process, url, log)
        yield url
    finally:
        _stop(process)
