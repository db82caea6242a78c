"""Pooled out-of-fold scoring: thresholds come from each fold's validation women only."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_monai.evaluation.cross_validation import (
    fold_thresholds,
    format_cv_markdown,
    pooled_operating_point,
    shipped_threshold,
)


def test_thresholds_depend_on_validation_only():
    rng = np.random.default_rng(0)
    val = [(rng.integers(0, 2, 30), rng.random(30)) for _ in range(3)]
    before = [t for t, _ in fold_thresholds(val)]
    # the test predictions are not an input: thresholds cannot depend on them; changing one fold's
    # validation changes that fold's threshold alone
    val2 = list(val)
    val2[1] = (val[1][0], 1.0 - val[1][1])
    after = [t for t, _ in fold_thresholds(val2)]
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]


def test_each_item_uses_its_own_fold_threshold():
    # fold 0 threshold 0.9, fold 1 threshold 0.1: the same score 0.5 is negative in fold 0, positive in fold 1
    point = pooled_operating_point(y=[1, 1, 0, 0], scores=[0.5, 0.5, 0.05, 0.95], fold=[0, 1, 1, 0],
                                   thresholds=[0.9, 0.1], groups=["a", "b", "c", "d"], n_resamples=20)
    assert point["sensitivity"]["estimate"] == 0.5  # fold 1's positive found, fold 0's missed
    assert point["specificity"]["estimate"] == 0.5  # 0.05 < fold 1's 0.1 is negative; 0.95 >= fold 0's 0.9 is not
    assert point["n"] == 4 and point["n_without_threshold"] == 0


def test_fold_without_threshold_is_left_out_and_counted():
    point = pooled_operating_point(y=[1, 0, 1], scores=[0.9, 0.1, 0.8], fold=[0, 0, 1], thresholds=[0.5, None],
                                   groups=["a", "b", "c"], n_resamples=20)
    assert point["n"] == 2 and point["n_without_threshold"] == 1
    assert point["sensitivity"]["estimate"] == 1.0 and point["specificity"]["estimate"] == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="differ in length"):
        pooled_operating_point([1], [0.5, 0.2], [0], [0.5], ["a"])
    with pytest.raises(ValueError, match="2 thresholds"):
        pooled_operating_point([1], [0.5], [3], [0.5, 0.4], ["a"])
    assert shipped_threshold([None, None]) is None


def test_markdown_lists_folds():
    page = format_cv_markdown({"bundle": "b", "kind": "classification", "n_folds": 2, "n_women": 4,
                               "headline": {"auc": {"estimate": 0.7, "low": None, "high": None}},
                               "folds": [{"fold": 0, "threshold": 0.25}, {"fold": 1, "threshold": 0.5}]})
    assert "| auc | 0.700 |" in page and "| 1 | 0.500 |" in page
