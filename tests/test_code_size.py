"""Size limits of the library's code (issue 22): no function in ``mammo_monai/`` over :data:`MAX_FUNCTION_LINES`
lines (from ``def`` to its last line, docstring included), no file in ``mammo_monai/evaluation/`` over
:data:`MAX_EVALUATION_FILE_LINES` lines, no ``$`` expression in ``bundles/*/configs/*.json`` over
:data:`MAX_EXPRESSION_CHARS` characters. A function that must be longer goes in :data:`ALLOWED`, with a one-line
reason; an entry that is no longer needed (the function shrank or is gone) fails too, so the list stays short.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mammo_monai"
MAX_FUNCTION_LINES = 120
MAX_EVALUATION_FILE_LINES = 500
#: a bundle config's ``$`` expression longer than this is logic that belongs in a tested library function (or a
#: call that reads better as a ``_target_`` component)
MAX_EXPRESSION_CHARS = 150

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


def _expressions(value, where: str):
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _expressions(sub, f"{where}#{key}")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _expressions(sub, f"{where}#{i}")
    elif isinstance(value, str) and value.startswith("$"):
        yield where, value


def test_bundle_expressions_are_short():
    too_long = {}
    for path in sorted((ROOT / "bundles").glob("*/configs/*.json")):
        rel = path.relative_to(ROOT).as_posix()
        for where, expression in _expressions(json.loads(path.read_text()), rel):
            if len(expression) > MAX_EXPRESSION_CHARS:
                too_long[where] = len(expression)
    assert not too_long, (f"$ expressions over {MAX_EXPRESSION_CHARS} characters (move the logic into a tested "
                          f"library function, or write the call as a _target_ component): {too_long}")
