"""The plots of a classification report (ROC, PR, reliability diagram, on the Pillow axes of
:mod:`mammo_monai.evaluation.plots`) and the number formats shared with the terminal summary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from ...data.labels import LabelSet
from ..plots import COLOURS, Axes


def _num(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"



def _ci(m: Mapping[str, Any]) -> str:
    return f"[{_num(m['ci'][0])}, {_num(m['ci'][1])}]"



def _plot_curves(kind: str, entries: Sequence[Mapping[str, Any]], ls: LabelSet,
                 metrics: Mapping[str, Any]) -> Any:
    """ROC (``kind="roc"``) or precision-recall curves, one per class (binary: the positive class)."""
    y = np.array([e["truth_index"] for e in entries], dtype=int)
    p = np.array([e["probs"] for e in entries], dtype=float).reshape(len(entries), len(ls.classes))
    shown = [ls.classes.index(ls.positive)] if ls.is_binary else range(len(ls.classes))
    if kind == "roc":
        axes = Axes(f"ROC, {ls.name} ({len(y)} items)", "1 - specificity (false positive rate)",
                     "sensitivity (true positive rate)")
        axes.dashed_diagonal()
    else:
        axes = Axes(f"precision-recall, {ls.name} ({len(y)} items)", "recall (sensitivity)", "precision")
    legend = []
    for n, c in enumerate(shown):
        name, colour = ls.classes[c], COLOURS[n % len(COLOURS)]
        truth = y == c
        if kind == "roc":
            value = metrics["auc"][name]
            if 0 < truth.sum() < y.size:
                fpr, tpr, _ = roc_curve(truth, p[:, c])
                axes.line(fpr, tpr, colour)
            legend.append((f"{name}: AUC {_num(value['estimate'])} {_ci(value)}", colour))
        else:
            value = metrics["average_precision"][name]
            if truth.sum() > 0:
                precision, recall, _ = precision_recall_curve(truth, p[:, c])
                axes.line(recall, precision, colour)
            legend.append((f"{name}: AP {_num(value['estimate'])} {_ci(value)}", colour))
    group = metrics["auc" if kind == "roc" else "average_precision"]
    if not any(math.isfinite(group[ls.classes[c]]["estimate"]) for c in shown):
        legend.append(("undefined: a class is absent from the evaluated items", (200, 0, 0)))
    axes.text_lines(legend, "lower right" if kind == "roc" else "lower left")
    return axes.image



def _plot_reliability(bins: Mapping[str, np.ndarray], ece: Mapping[str, Any], ls: LabelSet) -> Any:
    what = f"P({ls.positive})" if ls.is_binary else "top-class confidence"
    axes = Axes(f"reliability, {ls.name}: ECE {_num(ece['estimate'])} {_ci(ece)}", f"predicted {what}",
                 "observed frequency" if ls.is_binary else "observed accuracy")
    edges = bins["edges"]
    for i, count in enumerate(bins["count"]):
        if not count:
            continue
        x0, y0 = axes.px(edges[i], bins["observed"][i])
        x1, y1 = axes.px(edges[i + 1], 0.0)
        axes.draw.rectangle([x0 + 1, y0, x1 - 1, y1], fill=(170, 200, 235), outline=(31, 119, 180))
        cx, cy = axes.px(bins["mean_confidence"][i], bins["observed"][i])
        axes.draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=(214, 39, 40))
        inside = bins["observed"][i] > 0.92  # no room above the bar under the title
        axes.draw.text(((x0 + x1) / 2, y0 + 2 if inside else y0 - 2), str(int(count)), fill=(0, 0, 0),
                       font=axes.font, anchor="ma" if inside else "md")
    axes.dashed_diagonal()
    axes.text_lines([("bars: observed per bin (n above)", (31, 119, 180)),
                     ("dots: mean predicted in the bin", (214, 39, 40))], "upper left")
    return axes.image
