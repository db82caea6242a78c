"""Bundle pipelines written as lists of ``_target_`` transforms (issue 22) give the library pipeline bit for bit.

``mammo_image_classification`` and ``mammo_mass_segmentation`` used to call
``$mammo_monai.transforms.full_mammogram_transforms(...)`` and ``mammography_train_augmentations(...)``; their
configs now list the transforms (``mammogram_preprocessing#transforms``, ``train#augmentation#transforms``) so that
any one parameter is a CLI override. Checked here: the listed configs are the library's config functions' lists
(one source of truth), and the bundles' train / validate / inference pipelines as ``ConfigParser`` builds them now
give the same tensors, meta and inverse records as the old one-call configs on synthetic CBIS-DDSM films and real
mini-MIAS films (classification: with and without the other breast, ``contralateral``; segmentation: label from
its file or from the lesions, fused or separate spatial augmentations). The CLI override itself is tested in
``test_mammo_image_classification.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.utils import set_determinism

from mammo_monai.data.pairing import add_contralateral_images
from mammo_monai.data.schema import CONTRALATERAL_IMAGE
from mammo_monai.transforms.augment import mammography_train_augmentations_config
from mammo_monai.transforms.pipelines import full_mammogram_config
from mammo_monai.transforms.utils import symmetric_range

from .bundle_checks import BUNDLES

CLASSIFICATION = BUNDLES / "mammo_image_classification" / "configs"
SEGMENTATION = BUNDLES / "mammo_mass_segmentation" / "configs"
SIZE = 64
#: the segmentation bundle's tiny settings (as ``bundle_checks.SPECS``)
SEG_TINY = {"image_size": SIZE, "patch_size": [32, 32], "patches_per_image": 2, "patch_jitter": 4,
            "patch_min_distance": 4}

#: the one-call entries the configs had before they listed their transforms
_OLD_CALL = "$mammo_monai.transforms.full_mammogram_transforms(spatial_size=@image_size, label_key=None)"
_OLD_AUGMENT = ("$monai.transforms.Compose(mammo_monai.transforms.mammography_train_augmentations('image', "
                "rotate_range=@augment_rotate_range, fused_spatial=True))")
_OLD_SEG_CALL = ("$mammo_monai.transforms.full_mammogram_transforms(spatial_size=@image_size, "
                 "label_from_lesions=@lesion_types, label_source=@label_source)")
_OLD_SEG_AUGMENT = {"_target_": "Compose", "transforms": {
    "_target_": "mammo_monai.transforms.mammography_train_augmentations", "keys": "image", "label_keys": ["label"],
    "rotate_range": "@augment_rotate_range", "fused_spatial": "@augment_fused_spatial"}}


def _old_classification(parser: ConfigParser, inference: bool) -> None:
    sections = ["preprocessing"] if inference else ["train#preprocessing", "validate#preprocessing"]
    for section in sections:
        parser[f"{section}#transforms#0"] = _OLD_CALL
        parser[f"{section}#transforms#1#preprocess"] = _OLD_CALL
    if not inference:
        parser["train#preprocessing#transforms#4"] = _OLD_AUGMENT


def _old_segmentation(parser: ConfigParser, inference: bool) -> None:
    if inference:
        parser["preprocessing#transforms#0"] = _OLD_CALL
        return
    parser["train#preprocessing#transforms#0"] = parser["validate#preprocessing#transforms#0"] = _OLD_SEG_CALL
    parser["train#preprocessing#transforms#5"] = _OLD_SEG_AUGMENT


def _parser(files: list[str], old: bool, configs: Path = CLASSIFICATION, **updates: Any) -> ConfigParser:
    """A bundle's config (``files`` under ``configs``), as listed now or as it was (``old``)."""
    parser = ConfigParser()
    parser.read_config([str(configs / f) for f in files])
    parser.update({"image_size": SIZE, **(SEG_TINY if configs == SEGMENTATION else {}), **updates})
    if old:
        (_old_segmentation if configs == SEGMENTATION else _old_classification)(parser, "inference.json" in files)
    return parser


def _pipeline(files: list[str], section: str, old: bool, configs: Path = CLASSIFICATION, **updates: Any) -> Any:
    set_determinism(seed=0)  # as the bundle's "initialize" does before anything is instantiated
    try:
        return _parser(files, old, configs, **updates).get_parsed_content(section).flatten()
    finally:
        set_determinism(seed=None)


def _without_ids(ops: Any) -> Any:
    """Applied operations without their ``id`` entries (``id()`` of the transform object: differs per instance)."""
    if isinstance(ops, dict):
        return {k: _without_ids(v) for k, v in ops.items() if k != "id"}
    return [_without_ids(o) for o in ops] if isinstance(ops, list) else ops


def _assert_same(new: Any, old: Any, where: str) -> None:
    """Equal values, tensors bit for bit with equal meta (affine, spacing, file name, ...) and applied operations
    (the inverse records: transform names, sizes, extra info; not the transform objects' ``id``)."""
    if isinstance(old, torch.Tensor):
        assert type(new) is type(old) and new.dtype == old.dtype, where
        assert torch.equal(torch.as_tensor(new), torch.as_tensor(old)), where
        if hasattr(old, "meta"):
            _assert_same(dict(new.meta), dict(old.meta), f"{where}.meta")
            _assert_same(_without_ids(new.applied_operations), _without_ids(old.applied_operations),
                         f"{where}.applied_operations")
    elif isinstance(old, np.ndarray):
        assert isinstance(new, np.ndarray) and np.array_equal(new, old), where
    elif isinstance(old, dict):
        assert isinstance(new, dict) and set(new) == set(old), \
            f"{where}: {sorted(map(str, new))} vs {sorted(map(str, old))}"
        for key in old:
            _assert_same(new[key], old[key], f"{where}[{key!r}]")
    elif isinstance(old, (list, tuple)):
        assert type(new) is type(old) and len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(old, float) and np.isnan(old):  # e.g. meta["original_channel_dim"]
        assert isinstance(new, float) and np.isnan(new), where
    else:
        assert new == old, f"{where}: {new!r} != {old!r}"


def _resolve(config: Any, values: dict[str, Any]) -> Any:
    """``config`` with the references to ``values`` filled in (the listed transforms, as plain JSON)."""
    if isinstance(config, dict):
        return {k: _resolve(v, values) for k, v in config.items()}
    if isinstance(config, list):
        return [_resolve(v, values) for v in config]
    return values.get(config, config) if isinstance(config, str) else config


@pytest.mark.parametrize("files", [["train.json"], ["inference.json"], ["train.json", "mias_cpu.json"]])
def test_listed_transforms_are_the_library_lists(files: list[str]) -> None:
    parser = _parser(files, old=False)
    size, rotate = parser["image_size"], parser.get("augment_rotate_range", 0.17)
    values = {"@image_size": size, "$[@image_size, @image_size]": [size, size],
              "@augment_rotate_range": symmetric_range(rotate, "rotate_range")}
    listed = _resolve(parser["mammogram_preprocessing#transforms"], values)
    assert listed == full_mammogram_config(spatial_size=size, label_key=None)
    if "train.json" in files:
        augmentation = _resolve(parser["train#augmentation#transforms"], values)
        assert augmentation == mammography_train_augmentations_config("image", rotate_range=rotate, fused_spatial=True)
        for section in ("train#preprocessing", "validate#preprocessing"):
            assert parser[f"{section}#transforms#0"] == "@mammogram_preprocessing"
            assert parser[f"{section}#transforms#1#preprocess"] == "@mammogram_preprocessing"


def test_a_misspelt_label_source_is_refused() -> None:
    parser = _parser(["train.json"], old=False, configs=SEGMENTATION, label_source="lesion")
    with pytest.raises(RuntimeError) as raised:  # MONAI's wrapper of a failed expression; the cause is ours
        parser.get_parsed_content("mammogram_preprocessing")
    assert "label_source must be 'file' or 'lesions', got 'lesion'" in str(raised.value.__cause__)


def _enabled(transforms: list[dict]) -> list[dict]:
    """The entries whose (resolved) ``_disabled_`` is false, without it."""
    return [{k: v for k, v in t.items() if k != "_disabled_"} for t in transforms if not t.get("_disabled_", False)]


@pytest.mark.parametrize("label_source", ["file", "lesions"])
@pytest.mark.parametrize("fused", [True, False])
def test_segmentation_listed_transforms_are_the_library_lists(label_source: str, fused: bool) -> None:
    parser = _parser(["train.json"], old=False, configs=SEGMENTATION, label_source=label_source,
                     augment_fused_spatial=fused)
    size, rotate, lesion_types = parser["image_size"], parser["augment_rotate_range"], parser["lesion_types"]
    lesions = label_source == "lesions"
    values = {"@image_size": size, "$[@image_size, @image_size]": [size, size],
              "@augment_rotate_range": symmetric_range(rotate, "rotate_range"),
              "$mammo_monai.transforms.pipelines.loaded_keys(@label_source)": ["image"] if lesions else
              ["image", "label"], "$list(@lesion_types) or None": list(lesion_types) or None,
              "$@label_source != 'lesions'": not lesions, "$not @augment_fused_spatial": not fused,
              "$@augment_fused_spatial": fused,
              "$@augment_fused_spatial or not @augment_rotate_range": fused or not rotate}
    listed = _resolve(parser["mammogram_preprocessing#transforms"], values)
    assert listed == full_mammogram_config(spatial_size=size, label_from_lesions=lesion_types,
                                           label_source=label_source)
    augmentation = _enabled(_resolve(parser["train#augmentation#transforms"], values))
    expected = mammography_train_augmentations_config("image", label_keys=["label"], rotate_range=rotate,
                                                      fused_spatial=fused)
    assert augmentation == expected
    inference = _parser(["inference.json"], old=False, configs=SEGMENTATION)
    assert _resolve(inference["mammogram_preprocessing#transforms"], values) == full_mammogram_config(
        spatial_size=size, label_key=None)


@pytest.fixture(scope="module")
def synthetic_films(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Four synthetic CBIS-DDSM items (label mask files, lesions), the first with a partner film."""
    from mammo_monai.data.cbis_ddsm import index_cbis_ddsm
    from mammo_monai.data.synthetic import synthesize_cbis_ddsm

    root = tmp_path_factory.mktemp("cbis")
    info = synthesize_cbis_ddsm(root / "synth", n_patients=4, seed=5)
    result = index_cbis_ddsm(info["root"], info["csv_dir"], root / "cbis.json", progress=False)
    items, _ = add_contralateral_images([i for split in result.datalist.values() for i in split])
    items = sorted(items, key=lambda i: not i.get(CONTRALATERAL_IMAGE))[:4]
    if not items[0].get(CONTRALATERAL_IMAGE):  # no woman with both breasts: any other film is a partner here
        items[0] = dict(items[0], **{CONTRALATERAL_IMAGE: items[1]["image"]})
    return items


@pytest.fixture(scope="module")
def mias_films(tmp_path_factory: pytest.TempPathFactory, shared_mias: Path) -> dict[str, list[dict]]:
    """Real mini-MIAS items: ``paired`` (two films with their partner), ``mass`` (one film with a mass)."""
    from mammo_monai.data.mias import index_mias
    from mammo_monai.data.schema import SPLITS, load_datalist

    out = tmp_path_factory.mktemp("mias") / "mias.json"
    index_mias(shared_mias, out, progress=False)
    items = [i for s in SPLITS for i in load_datalist(out)[s]]
    return {"paired": [i for i in items if i.get(CONTRALATERAL_IMAGE)][:2],
            "mass": [i for i in items if any(les.get("type") == "mass" for les in i.get("lesions") or [])][:1]}


def _labelled(items: list[dict]) -> list[dict]:
    """Classification items: the class index in ``label``."""
    return [dict(i, label=n % 2) for n, i in enumerate(items)]


def _check_pipelines(items: list[dict], contralateral_options: tuple[bool, ...] = (False, True),
                     seeds: tuple[int, ...] = (0, 1), recipe: bool = True) -> None:
    runs = [(["train.json"], "validate#preprocessing"), (["inference.json"], "preprocessing")]
    runs += [(["train.json", "mias_cpu.json"], "validate#preprocessing")] if recipe else []
    for contralateral in contralateral_options:
        for files, section in runs:
            new, old = (_pipeline(files, section, o, contralateral=contralateral) for o in (False, True))
            for n, item in enumerate(items):
                _assert_same(new(dict(item)), old(dict(item)), f"{files} {section} {contralateral=} item {n}")
        # training: the same augmentations drawn from the same seeds
        new, old = (_pipeline(["train.json"], "train#preprocessing", o, contralateral=contralateral)
                    for o in (False, True))
        for seed in seeds:
            new.set_random_state(seed), old.set_random_state(seed)
            for n, item in enumerate(items):
                _assert_same(new(dict(item)), old(dict(item)), f"train {contralateral=} {seed=} item {n}")


def test_classification_pipelines_bit_identical_on_synthetic_films(synthetic_films: list[dict]) -> None:
    assert any(i.get(CONTRALATERAL_IMAGE) for i in synthetic_films)
    _check_pipelines(_labelled(synthetic_films))


@pytest.mark.shared
def test_classification_pipelines_bit_identical_on_mias_films(mias_films: dict[str, list[dict]]) -> None:
    """Two real 1024 x 1024 films, each with its partner (the one-channel path runs inside the two-channel one)."""
    _check_pipelines(_labelled(mias_films["paired"]), contralateral_options=(True,), seeds=(0,), recipe=False)


def _check_segmentation_pipelines(items: list[dict], label_sources: tuple[str, ...] = ("file", "lesions"),
                                  fused_options: tuple[bool, ...] = (True, False)) -> None:
    pipelines = [(["inference.json"], "preprocessing", {})]
    pipelines += [(["train.json"], "validate#preprocessing", {"label_source": s}) for s in label_sources]
    pipelines += [(["train.json"], "train#preprocessing", {"label_source": s, "augment_fused_spatial": f})
                  for s in label_sources for f in fused_options]
    for files, section, updates in pipelines:
        new, old = (_pipeline(files, section, o, SEGMENTATION, **updates) for o in (False, True))
        for seed in (0, 1) if section.startswith("train") else (0,):
            new.set_random_state(seed), old.set_random_state(seed)
            for n, item in enumerate(items):
                _assert_same(new(dict(item)), old(dict(item)), f"segmentation {section} {updates} {seed=} item {n}")


def test_segmentation_pipelines_bit_identical_on_synthetic_films(synthetic_films: list[dict]) -> None:
    assert any(i.get("lesions") for i in synthetic_films) and any(i.get("label") for i in synthetic_films)
    _check_segmentation_pipelines(synthetic_films)


@pytest.mark.shared
def test_segmentation_pipelines_bit_identical_on_mias_films(mias_films: dict[str, list[dict]]) -> None:
    """A film with a mass, as ``mias_cpu.json`` trains on MIAS: the mask drawn from the lesion circles."""
    assert mias_films["mass"]
    _check_segmentation_pipelines(mias_films["mass"], label_sources=("lesions",), fused_options=(True,))
