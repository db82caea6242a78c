"""The patch detector's label sets: which lesion types are positives, and the class index of each.

A patch centred on a lesion gets its lesion's class, a normal-tissue patch class 0 (``normal``). Lesion types
outside the task's ``class_map`` (MIAS architectural distortions and asymmetries, say) are neither: the
patch pipeline keeps negatives away from them and never centres a positive on them
(:func:`~mammo_monai.transforms.patch_config`).

Example:
    >>> task = patch_task("type")
    >>> task.classes, task.class_map
    (['normal', 'mass', 'calcification'], {'mass': 1, 'calcification': 2})
    >>> patch_task("abnormal").classes
    ['normal', 'abnormal']
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PATCH_TASKS", "PatchTask", "patch_task"]


@dataclass(frozen=True)
class PatchTask:
    """A patch-classification task: ``classes`` (index order, ``normal`` first) and the lesion-type ->
    class-index map the patch sampler draws the lesion mask with."""

    name: str
    classes: list[str]
    class_map: dict[str, int] = field(default_factory=dict)

    @property
    def lesion_types(self) -> list[str]:
        return sorted(self.class_map)


PATCH_TASKS: dict[str, PatchTask] = {
    "type": PatchTask("type", ["normal", "mass", "calcification"], {"mass": 1, "calcification": 2}),
    "abnormal": PatchTask("abnormal", ["normal", "abnormal"], {"mass": 1, "calcification": 1}),
    "mass": PatchTask("mass", ["normal", "mass"], {"mass": 1}),
    "calcification": PatchTask("calcification", ["normal", "calcification"], {"calcification": 1}),
}


def patch_task(name: str) -> PatchTask:
    """The :data:`PATCH_TASKS` entry ``name`` (``type``: normal / mass / calcification; ``abnormal``: normal vs
    either; ``mass`` or ``calcification`` alone)."""
    if name not in PATCH_TASKS:
        raise ValueError(f"unknown patch task {name!r}; choose one of {sorted(PATCH_TASKS)}")
    return PATCH_TASKS[name]
