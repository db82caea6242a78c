"""Size limits of the library's code (issue 22): no function in ``mammo_monai/`` over :data:`MAX_FUNCTION_LINES`
lines (from ``def`` to its last line, docstring included), no file in ``mammo_monai/evaluation/`` over
:data:`MAX_EVALUATION_FILE_LINES` lines. A function that must be longer goes in :data:`ALLOWED`, with a one-line
reason; an entry that is no longer needed (the function shrank or is gone) fails too, so the list stays short.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mammo_monai"
MAX_FUNCTION_LINES = 120
MAX_EVALUATION_FILE_LINES = 500

#: ``"path/from/repo/root.py::function"`` -> why it may be longer (keep this short: split rather than list)
ALLOWED: dict[str, str] = {
}


def _function_lengths() -> dict[str, int]:
    lengths = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                key = f"{rel}::{node.name}"
                lengths[key] = max(lengths.get(key, 0), node.end_lineno - start + 1)
    return lengths


def test_no_function_is_too_long():
    lengths = _function_lengths()
    too_long = {k: n for k, n in lengths.items() if n > MAX_FUNCTION_LINES and k not in ALLOWED}
    assert not too_long, (f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps, or add them to "
                          f"ALLOWED with a reason): {too_long}")


def test_allow_list_is_current():
    lengths = _function_lengths()
    stale = [k for k in ALLOWED if lengths.get(k, 0) <= MAX_FUNCTION_LINES]
    assert not stale, f"ALLOWED entries no longer needed (gone or short enough now): {stale}"
    assert all(reason.strip() for reason in ALLOWED.values())


def test_no_evaluation_file_is_too_long():
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
             for path in sorted((PACKAGE / "evaluation").rglob("*.py"))}
    too_long = {k: n for k, n in sizes.items() if n > MAX_EVALUATION_FILE_LINES}
    assert not too_long, f"evaluation files over {MAX_EVALUATION_FILE_LINES} lines (split by topic): {too_long}"
