"""The import-layer contract (pyproject's ``[tool.importlinter]``, docs/architecture.md) holds.

import-linter builds the import graph with grimp, which sees function-level (lazy) imports and
``TYPE_CHECKING`` imports too, so a back-arrow hidden inside a function fails here as well.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("importlinter", reason="import-linter (the dev extra) checks the import layers")


def _contracts() -> dict[str, dict]:
    from importlinter.api import read_configuration

    config = read_configuration(str(ROOT / "pyproject.toml"))
    return {c["id"]: c for c in config["contracts_options"]}


def test_contract_is_the_house_plan():
    """The layers named in docs/architecture.md, every package placed (exhaustive), siblings independent."""
    contracts = _contracts()
    layers = contracts["layers"]
    assert layers["type"] == "layers" and layers["containers"] == ["mammo_monai"]
    assert str(layers["exhaustive"]).lower() == "true"
    assert layers["layers"] == [
        "__main__",
        "cli",
        "engines | label | deploy",
        "evaluation",
        "inference",
        "transforms | networks",
        "data",
        "io | keys | expected_conditions",
    ]
    assert not layers.get("ignore_imports"), "fix a back-arrow by moving the thing down, not by ignoring it"
    keys_only = contracts["keys-only"]
    assert keys_only["type"] == "forbidden"
    assert set(keys_only["source_modules"]) == {"mammo_monai.transforms", "mammo_monai.networks"}
    assert keys_only["forbidden_modules"] == ["mammo_monai.data"]


def test_import_layers_kept():
    """``lint-imports`` on this checkout (not an installed copy): every contract kept."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"import contract broken:\n{result.stdout}\n{result.stderr}"
    assert "0 broken" in result.stdout, result.stdout
