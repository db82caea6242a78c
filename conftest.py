"""Collection rules for the whole tree (``--doctest-modules`` imports every module under the testpaths), and the
session's private temporary folder (nothing may be left in it)."""

import gc
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.deploy import deploy_sdk_installed

collect_ignore_glob = []
if importlib.util.find_spec("monailabel") is None:
    # the MONAI Label app and its test helpers import MONAI Label: they are collected in .venv-label
    # (scripts/test_label.sh); tests/label/test_*.py still report the skip with its reason
    collect_ignore_glob += ["mammo_monai/label/*", "tests/label/server.py", "tests/label/studies.py",
                            "tests/label/orthanc.py"]

if not deploy_sdk_installed():
    # the MONAI Deploy app imports the App SDK (the deploy extra, in .venv-deploy: scripts/test_deploy.sh);
    # tests/deploy/test_*.py still report the skip with its reason
    collect_ignore_glob += ["mammo_monai/deploy/*"]


@pytest.fixture(scope="session", autouse=True)
def private_temp_folder(tmp_path_factory: pytest.TempPathFactory):
    """The session's temporary folder (``TMPDIR``, :func:`tempfile.gettempdir`, for this process and every process
    it starts) is a private one, which must be empty when the session ends: a test errors at teardown, naming what
    was left, when the code under test (or a server, a bundle run) leaves scratch files behind. pytest's own
    ``tmp_path`` root is fixed before the switch and stays where it is (its retention is set in pyproject.toml);
    torch's compile cache (``<tmp>/torchinductor_<user>``, one per user, made by any process that imports
    ``torch._inductor``) goes below it too (``TORCHINDUCTOR_CACHE_DIR``)."""
    caches = tmp_path_factory.mktemp("caches", numbered=False)
    private = Path(tempfile.mkdtemp(prefix="mammo_tests_tmp_"))
    session_env = {"TMPDIR": str(private), "TORCHINDUCTOR_CACHE_DIR": str(caches / "torchinductor")}
    saved_env, saved_tempdir = {k: os.environ.get(k) for k in session_env}, tempfile.tempdir
    os.environ.update(session_env)
    tempfile.tempdir = str(private)
    try:
        yield private
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tempfile.tempdir = saved_tempdir
        gc.collect()  # owners nobody holds any more, in reference cycles: their finalizers remove their folders now
        left = sorted(p.name for p in private.iterdir())
        shutil.rmtree(private, ignore_errors=True)
        if left:
            pytest.fail(f"the tests left {len(left)} entries in the temporary folder (a scratch folder or file "
                        f"not removed by its owner): {', '.join(left[:20])}", pytrace=False)
