"""The bundle tests' shared training: each bundle is trained once per session (on a copy, small network, tiny
overrides: ``bundle_checks.SPECS``), for ``test_bundle_conventions.py`` and the bundle's own module alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .bundle_checks import SPECS, train_bundle


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``trained_bundle(name)``: that bundle's trained copy (trained at the first call). Tests may add outputs
    (evaluation, predictions, a resumed epoch) but must train variants on copies of their own."""
    trained: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in trained:
            trained[name] = train_bundle(SPECS[name], tmp_path_factory.mktemp("bundle") / name)
        return trained[name]

    return get
