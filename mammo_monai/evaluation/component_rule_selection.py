"""Choose a segmentation post-processing rule (and a film gate) on a fold's validation women.

Each validation film's foreground probability map is reduced once, per candidate threshold, to its connected
components (size, peak probability, overlap with the truth), so every rule of the grid — threshold, smallest
component, smallest peak, at most k components, and optionally a film-level gate score from another model —
is scored without touching the pixels again. The chosen rule maximises the mean Dice on films with a target
lesion among the rules that leave at most ``max_normal_rate`` of the films without one with any false pixel
(the issue's ≤ 10%); when no rule gets there, the one with the fewest such films wins. Cross-validation chooses
on each fold's validation women and applies the rule to that fold's test women only
(:mod:`mammo_monai.engines.segmentation_rules`).

Example:
    >>> import numpy as np
    >>> truth = np.zeros((16, 16), bool); truth[4:10, 4:10] = True
    >>> mass = np.where(truth, 0.97, 0.0).astype(np.float32); mass[12:14, 12:14] = 0.6
    >>> normal = np.zeros((16, 16), np.float32); normal[2:5, 2:5] = 0.7
    >>> films = [film_components(mass, truth, [0.5]), film_components(normal, None, [0.5])]
    >>> choice = choose_component_rule(films, thresholds=[0.5], min_sizes=[0], min_peaks=[0.0, 0.9],
    ...                                max_components=[None])
    >>> choice.rule.min_peak, round(choice.dice, 3), choice.normal_rate
    (0.9, 1.0, 0.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mammo_monai.inference.component_rule import ComponentRule, kept_components, label_components

__all__ = [
    "DEFAULT_GRID",
    "FilmComponents",
    "RuleChoice",
    "choose_component_rule",
    "film_components",
    "rule_outcome",
    "shipped_rule",
]

#: the grid searched by default (pixels of the film's own grid; mini-MIAS films are 1024 x 1024 at 200 µm)
DEFAULT_GRID: dict[str, list[Any]] = {
    "thresholds": [0.5, 0.7, 0.9],
    "min_sizes": [0, 450, 1000, 2000, 4000],
    "min_peaks": [0.0, 0.8, 0.9, 0.95, 0.99],
    "max_components": [None, 1],
}


@dataclass
class FilmComponents:
    """One film's components per threshold.

    Attributes:
        truth_area: target pixels in the truth (0: a film without a target lesion).
        components: ``{threshold: (sizes, peaks, overlaps)}``, each ``(n,)``; ``overlaps`` are the component's
            pixels inside the truth.
        gate: the film's score from a gating model (None: no gate).
    """

    truth_area: int
    components: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]]
    gate: float | None = None


def film_components(probability: np.ndarray, truth: np.ndarray | None, thresholds: Sequence[float],
                    gate: float | None = None) -> FilmComponents:
    """Reduce one film to its components at each threshold.

    Args:
        probability: ``(H, W)`` foreground probabilities.
        truth: ``(H, W)`` target mask of the same shape, or None for a film without a target lesion.
        thresholds: the rule thresholds to prepare.
        gate: the film's gate score, if a gate is searched.

    Raises:
        ValueError: the truth's shape differs from the probability map's.
    """
    probability = np.asarray(probability, np.float32)
    target = np.zeros(probability.shape, bool) if truth is None else np.asarray(truth) > 0
    if target.shape != probability.shape:
        raise ValueError(f"truth shape {target.shape} differs from the probability map's {probability.shape}")
    components = {}
    for threshold in thresholds:
        labels, sizes, peaks = label_components(probability, float(threshold))
        overlaps = np.bincount(labels[target].ravel(), minlength=sizes.size + 1)[1:]
        components[float(threshold)] = (sizes, peaks, overlaps)
    return FilmComponents(int(target.sum()), components, gate)


def rule_outcome(films: Sequence[FilmComponents], rule: ComponentRule,
                 gate_threshold: float | None = None) -> tuple[list[float], list[bool]]:
    """Dice of each film with a target lesion, and for each film without one whether any pixel was kept.

    A film whose gate score is below ``gate_threshold`` gets an empty mask.
    """
    dices, false_films = [], []
    for film in films:
        sizes, peaks, overlaps = film.components[float(rule.threshold)]
        gated_out = gate_threshold is not None and (film.gate is None or film.gate < gate_threshold)
        keep = np.zeros(0, np.int64) if gated_out else kept_components(
            sizes, peaks, rule.min_size, rule.min_peak, rule.max_components)
        if film.truth_area:
            dices.append(2.0 * float(overlaps[keep].sum()) / (float(sizes[keep].sum()) + film.truth_area))
        else:
            false_films.append(bool(keep.size))
    return dices, false_films


@dataclass
class RuleChoice:
    """The chosen rule and what it scored on the films it was chosen on."""

    rule: ComponentRule
    gate_threshold: float | None
    dice: float
    normal_rate: float
    n_rules: int
    table: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {**self.rule.as_dict(), "gate_threshold": self.gate_threshold, "dice": self.dice,
                "normal_rate": self.normal_rate, "n_rules": self.n_rules}


def choose_component_rule(films: Sequence[FilmComponents], thresholds: Sequence[float] | None = None,
                          min_sizes: Sequence[int] | None = None, min_peaks: Sequence[float] | None = None,
                          max_components: Sequence[int | None] | None = None, gate: bool = False,
                          max_normal_rate: float = 0.10) -> RuleChoice:
    """The rule of the grid with the best mean Dice on target films among those within ``max_normal_rate``.

    Args:
        films: from :func:`film_components`, prepared at every threshold of the grid.
        thresholds, min_sizes, min_peaks, max_components: the grid (None: :data:`DEFAULT_GRID`).
        gate: also search a gate threshold over the films' gate scores (each score, and no gate).
        max_normal_rate: the largest acceptable share of films without a target lesion given any pixel.

    Raises:
        ValueError: no films, or no film with a target lesion.
    """
    grid = {"thresholds": thresholds, "min_sizes": min_sizes, "min_peaks": min_peaks,
            "max_components": max_components}
    grid = {k: list(DEFAULT_GRID[k] if v is None else v) for k, v in grid.items()}
    if not any(f.truth_area for f in films):
        raise ValueError("no film with a target lesion among the films to choose the rule on")
    gates: list[float | None] = [None]
    if gate:
        gates += sorted({float(f.gate) for f in films if f.gate is not None})
    best_key, best, table = None, None, []
    for t, size, peak, k, g in itertools.product(grid["thresholds"], grid["min_sizes"], grid["min_peaks"],
                                                 grid["max_components"], gates):
        rule = ComponentRule(float(t), int(size), float(peak), k)
        dices, false_films = rule_outcome(films, rule, g)
        dice = float(np.mean(dices))
        rate = float(np.mean(false_films)) if false_films else 0.0
        table.append({**rule.as_dict(), "gate_threshold": g, "dice": dice, "normal_rate": rate})
        within = rate <= max_normal_rate + 1e-12
        key = (within, dice, -rate) if within else (within, -rate, dice)
        if best_key is None or key > best_key:
            best_key, best = key, (rule, g, dice, rate)
    rule, g, dice, rate = best
    return RuleChoice(rule, g, dice, rate, len(table), table)


def shipped_rule(choices: Sequence[RuleChoice | Mapping[str, Any]]) -> ComponentRule:
    """One rule from the folds' choices: the median of each number, the commonest ``max_components`` (the
    smaller on a tie), the way a binary threshold is shipped as the median of the fold thresholds."""
    rows = [c.as_dict() if isinstance(c, RuleChoice) else dict(c) for c in choices]
    if not rows:
        raise ValueError("no fold choices to ship a rule from")
    ks = [r["max_components"] for r in rows]
    counts = {k: ks.count(k) for k in ks}
    top = max(counts.values())
    k = min((x for x in counts if counts[x] == top), key=lambda x: float("inf") if x is None else x)
    return ComponentRule(float(np.median([r["threshold"] for r in rows])),
                         round(float(np.median([r["min_size"] for r in rows]))),
                         float(np.median([r["min_peak"] for r in rows])), k)
