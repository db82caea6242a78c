"""A real MONAI Label server with this app, on 127.0.0.1, for the tests: a subprocess on a free port,
bounded waits, always stopped (its whole process group, training children included)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_DIR = REPO_ROOT / "mammo_monai" / "label"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def label_server(studies: Path, conf: dict[str, str], log: Path, timeout: float = 180.0) -> Iterator[str]:
    """Start ``monailabel start_server`` on the app; yields its base URL once ``GET /info/`` answers.

    The server gets a temporary folder of its own beside ``log`` (``server_tmp``): MONAI Label writes its logging
    config there at every start and leaves an uploaded file behind whenever the app refuses the request (its
    background removal only runs after a success), none of which is this project's to clean. What the app itself
    leaves there (``mammo_*``) fails the test once the server has stopped."""
    port = free_port()
    cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(APP_DIR), "--studies",
           str(studies), "--host", "127.0.0.1", "--port", str(port)]
    for key, value in conf.items():
        cmd += ["--conf", key, value]
    server_tmp = log.parent / "server_tmp"
    server_tmp.mkdir(exist_ok=True)
    env = {**os.environ, "MONAI_LABEL_DATASTORE_AUTO_RELOAD": "false", "TMPDIR": str(server_tmp)}
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent, env=env,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(process, f"{url}/info/", log, timeout, "the MONAI Label server")
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
    left = sorted(p.name for p in server_tmp.glob("mammo_*"))
    assert not left, f"the MONAI Label app left scratch files in its temporary folder {server_tmp}: {left}"


def wait_until_answers(process: subprocess.Popen, url: str, log: Path, timeout: float, what: str,
                       poll: float = 0.5) -> None:
    """Wait until ``GET url`` answers 200; a process that exits or a deadline that passes raises, with the
    log's last lines."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{tail(log)}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {what} within {timeout:.0f} s:\n{tail(log)}")
        time.sleep(poll)


def infer_parts(response: requests.Response) -> tuple[dict, bytes | None]:
    """The JSON params and the label file's bytes of an ``output=all`` infer answer (multipart)."""
    from requests_toolbelt.multipart.decoder import MultipartDecoder

    params, label = {}, None
    for part in MultipartDecoder.from_response(response).parts:
        disposition = part.headers[b"Content-Disposition"].decode()
        if 'name="params"' in disposition:
            params = json.loads(part.content)
        elif 'name="image"' in disposition:
            label = part.content
    return params, label


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() else ""


def wait_for_training(url: str, timeout: float = 420.0) -> dict:
    """Poll ``GET /train/`` until the last training is no longer running; returns its task record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = requests.get(f"{url}/train/", params={"check_if_running": "false"}, timeout=10).json()
        if task.get("status") in ("DONE", "ERROR"):
            return task
        time.sleep(2.0)
    raise TimeoutError(f"training still running after {timeout:.0f} s")


def names(paths: Sequence[Path]) -> list[str]:
    return sorted(p.name for p in paths)
