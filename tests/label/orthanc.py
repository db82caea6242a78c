"""A real Orthanc with its DICOMweb plugin for the tests: started on 127.0.0.1 (a free port, DICOM networking
off, a throwaway storage folder), bounded waits, always stopped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.label.server import free_port, wait_until_answers

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def orthanc_missing() -> str | None:
    """Why Orthanc cannot be run here, or ``None``."""
    if shutil.which("Orthanc") is None or not PLUGIN.is_file():
        why = ("not root and no apt-get here" if os.geteuid() != 0 and shutil.which("apt-get") is None
               else "not root here" if os.geteuid() != 0
               else "no apt-get here" if shutil.which("apt-get") is None
               else "apt-get could not install them: see /tmp/setup_orthanc.log")
        return ("Orthanc with its DICOMweb plugin is not installed: scripts/setup_orthanc.sh (run by scripts/test.sh) "
                f"installs the Debian packages orthanc and orthanc-dicomweb with apt-get as root ({why})")
    return None


@contextmanager
def orthanc(folder: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run Orthanc in ``folder``; yields its REST base URL (the DICOMweb root is ``<url>/dicom-web``)."""
    port = free_port()
    config = {"Name": "mammo-monai-test", "StorageDirectory": str(folder / "storage"),
              "IndexDirectory": str(folder / "index"), "HttpPort": port, "DicomServerEnabled": False,
              "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [str(PLUGIN)],
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = folder / "orthanc.log"
    with open(log, "w") as out:
        process = subprocess.Popen(["Orthanc", str(folder / "orthanc.json")], stdout=out, stderr=subprocess.STDOUT,
                                   cwd=folder, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(process, f"{url}/system", log, timeout, "Orthanc", poll=0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def upload(url: str, path: Path) -> dict:
    """Store one DICOM file in Orthanc (REST ``POST /instances``); its answer (``ID``, ``ParentSeries``...)."""
    r = requests.post(f"{url}/instances", data=path.read_bytes(), timeout=60)
    r.raise_for_status()
    return r.json()
