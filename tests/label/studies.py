"""Synthetic studies folders and served checkpoints for the MONAI Label app's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mammo_monai.data.synthetic.anatomy import LesionSpec, render_mammogram, to_uint8

#: (rows, cols) of the synthetic films: not square, so that a transposed result cannot pass
FILM_SHAPE = (360, 232)


def write_films(folder: Path, n: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` synthetic PNG films ``film_<k>.png`` (alternating L/R, a mass on the even ones) in ``folder``;
    returns image id -> its ``(rows, cols)`` mass mask (uint8, 1 = mass)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    masks = {}
    for k in range(n):
        lesions = [LesionSpec("mass", radius=22.0)] if k % 2 == 0 else []
        film = render_mammogram(FILM_SHAPE, "L" if k % 2 == 0 else "R", "CC", density=2, rng=rng, lesions=lesions)
        Image.fromarray(to_uint8(film.image)).save(folder / f"film_{k}.png")
        mask = np.zeros(FILM_SHAPE, np.uint8)
        for m in film.masks:
            mask[m] = 1
        masks[f"film_{k}"] = mask
    return masks


def write_random_checkpoints(model_dir: Path, bundles_dir: Path, names: list[str], configs: list[str]) -> None:
    """``<model_dir>/<bundle>/model.pt``: each bundle's own network (with ``configs`` layered), freshly
    initialised with a fixed seed: what an infer test needs to check shapes and geometry, not accuracy."""
    from monai.bundle import ConfigParser

    for name in names:
        parser = ConfigParser()
        folder = bundles_dir / name / "configs"
        parser.read_config([str(folder / "inference.json")] + [str(folder / c) for c in configs
                                                                 if (folder / c).is_file()])
        parser["device"] = "$torch.device('cpu')"
        torch.manual_seed(0)
        network = parser.get_parsed_content("network_def")
        (model_dir / name).mkdir(parents=True, exist_ok=True)
        torch.save(network.state_dict(), model_dir / name / "model.pt")
