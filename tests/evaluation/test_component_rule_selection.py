"""Choosing the segmentation post-processing on a fold's validation films (the rule grid and the film gate)."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_monai.evaluation.component_rule_selection import (
    choose_component_rule,
    film_components,
    rule_outcome,
    shipped_rule,
)
from mammo_monai.inference.component_rule import ComponentRule

GRID = {"thresholds": [0.5, 0.7], "min_sizes": [0, 30], "min_peaks": [0.0, 0.9], "max_components": [None, 1]}


def _films(faint_on_normals: float = 0.85, gate: bool = False):
    """Two mass films (mass at 0.95 + a faint blob) and four normals with one faint blob each."""
    films = []
    for _ in range(2):
        truth = np.zeros((32, 32), bool)
        truth[10:20, 10:20] = True
        p = np.where(truth, 0.95, 0.0).astype(np.float32)
        p[25:28, 25:28] = 0.8
        films.append(film_components(p, truth, GRID["thresholds"], gate=0.9 if gate else None))
    for i in range(4):
        p = np.zeros((32, 32), np.float32)
        p[2:10, 2:10] = faint_on_normals
        films.append(film_components(p, None, GRID["thresholds"], gate=0.1 * i if gate else None))
    return films


def test_rule_outcome_dice_and_false_films():
    films = _films()
    dices, false_films = rule_outcome(films, ComponentRule())
    assert dices == pytest.approx([200 / 209] * 2) and false_films == [True] * 4
    dices, false_films = rule_outcome(films, ComponentRule(min_peak=0.9))
    assert dices == pytest.approx([1.0, 1.0]) and false_films == [False] * 4
    dices, false_films = rule_outcome(films, ComponentRule(), gate_threshold=0.5)  # normals' gate scores < 0.5
    assert false_films == [False] * 4


def test_choice_respects_the_normal_rate_and_maximises_dice():
    choice = choose_component_rule(_films(), **GRID)
    assert choice.normal_rate == 0.0 and choice.dice == pytest.approx(1.0)
    assert choice.rule.min_peak == 0.9  # the only setting that spares the normals
    assert choice.n_rules == 16 and len(choice.table) == 16 and choice.gate_threshold is None


def test_gate_is_searched_when_asked():
    # normals as bright as the mass: only the gate can spare them
    films = _films(faint_on_normals=0.95, gate=True)
    assert choose_component_rule(films, **GRID).normal_rate > 0.1
    choice = choose_component_rule(films, gate=True, **GRID)
    assert choice.normal_rate == 0.0 and choice.dice == pytest.approx(1.0) and 0.3 < choice.gate_threshold <= 0.9


def test_fewest_painted_normals_when_no_rule_is_within_the_rate():
    films = _films(faint_on_normals=0.95)
    choice = choose_component_rule(films, max_normal_rate=0.0, **GRID)
    assert choice.normal_rate == min(row["normal_rate"] for row in choice.table)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="no film with a target lesion"):
        choose_component_rule(_films()[2:], **GRID)
    with pytest.raises(ValueError, match="truth shape"):
        film_components(np.zeros((4, 4)), np.zeros((4, 5)), [0.5])
    with pytest.raises(ValueError, match="no fold choices"):
        shipped_rule([])


def test_shipped_rule_is_the_median_of_the_folds():
    rows = [{"threshold": t, "min_size": s, "min_peak": p, "max_components": k}
            for t, s, p, k in ((0.5, 0, 0.9, 1), (0.7, 450, 0.95, None), (0.9, 1000, 0.99, 1))]
    assert shipped_rule(rows) == ComponentRule(0.7, 450, 0.95, 1)
