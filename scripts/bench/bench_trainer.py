"""Benchmark: training samples/s of a bundle's trainer against the bare forward+backward of its network.

Both run in one process on the same network, optimizer, loss, batch and input size:

- ``trainer``  the bundle's ``train#trainer`` (MONAI ``SupervisedTrainer``: DataLoader over the bundle's
               ``CacheDataset`` with its random transforms and workers, postprocessing, the training key
               metric, LR schedule and stats handlers), run for ``--epochs`` after one warm-up epoch (worker
               start-up, first-touch allocations); validation and checkpoint saving are switched off, since
               they are not training;
- ``bare``     a loop of ``zero_grad``, forward, loss, backward, ``step`` on one real batch of the same
               loader, already in memory, for as many iterations.

It prints both rates and ``trainer / bare`` (target >= 0.9: data loading hidden by caching and workers).

    .venv/bin/python scripts/bench/bench_trainer.py [--bundle bundles/mammo_mass_segmentation]
        [--config configs/mias_cpu.json] [--datalist PATH] [--epochs 2] [--threads 2] [--override KEY=JSON ...]

Without ``--datalist`` the bundle's embedded default (synthetic CBIS-DDSM-shaped data) is generated in a
temporary folder. ``--config`` files are layered over ``configs/train.json`` (relative to the bundle).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _parser(bundle: Path, configs: list[str], root: Path, datalist: str | None, overrides: list[str]):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(bundle / "configs" / "train.json"), *(str(bundle / c) for c in configs)])
    parser.read_meta(str(bundle / "configs" / "metadata.json"))
    parser["bundle_root"] = str(root)
    if datalist:
        parser["datalist"] = str(Path(datalist).absolute())
    for item in overrides:
        key, _, value = item.partition("=")
        parser[key] = json.loads(value)
    # training only: no validation, no checkpoint saving (the LR schedule and stats handlers stay)
    parser["train#handlers"] = [h for h in parser["train#handlers"] if h.get("_target_") != "ValidationHandler"]
    parser["train#checkpoint_handlers"] = []
    return parser


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "bundles" / "mammo_mass_segmentation")
    parser.add_argument("--config", action="append", default=None,
                        help="override config(s), relative to the bundle (default: configs/mias_cpu.json)")
    parser.add_argument("--datalist", default=None)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (CI machines have 2 cores)")
    parser.add_argument("--override", action="append", default=[], help="KEY=JSON, e.g. batch_size=4")
    args = parser.parse_args()
    configs = args.config if args.config is not None else ["configs/mias_cpu.json"]

    import logging

    import torch
    from ignite.engine import Events

    logging.getLogger("monai").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        config = _parser(args.bundle, configs, Path(tmp), args.datalist,
                         [*args.override, f"train#trainer#max_epochs={1 + args.epochs}"])
        config.get_parsed_content("initialize")  # set_determinism, cudnn settings
        trainer = config.get_parsed_content("train#trainer")
        marks: dict[str, float] = {}
        seen = {"samples": 0, "iterations": 0}

        @trainer.on(Events.EPOCH_STARTED(once=2))
        def _start(_engine) -> None:
            marks["start"] = time.perf_counter()

        @trainer.on(Events.ITERATION_COMPLETED)
        def _count(engine) -> None:
            if "start" in marks:
                out = engine.state.output  # decollated: one dict per sample (image, label, pred, loss)
                seen["samples"] += len(out) if isinstance(out, list) else int(out["image"].shape[0])
                seen["iterations"] += 1

        trainer.run()
        elapsed = time.perf_counter() - marks["start"]
        trainer_rate = seen["samples"] / elapsed

        network, optimizer = config.get_parsed_content("network"), config.get_parsed_content("optimizer")
        loss_fn, device = config.get_parsed_content("loss"), config.get_parsed_content("device")
        batch = next(iter(config.get_parsed_content("train#dataloader")))
        images, labels = torch.as_tensor(batch["image"]).to(device), torch.as_tensor(batch["label"]).to(device)
        network.train()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(network(images), labels).backward()
            optimizer.step()

        step()
        start = time.perf_counter()
        for _ in range(seen["iterations"]):
            step()
        bare_rate = seen["iterations"] * images.shape[0] / (time.perf_counter() - start)

    print(f"network {type(network).__name__}, batch {tuple(images.shape)} on {device}, {args.threads} threads, "
          f"{seen['iterations']} iterations")
    print(f"trainer (bundle's SupervisedTrainer, data loading included): {trainer_rate:8.1f} samples/s")
    print(f"bare forward+backward+step on one batch in memory:          {bare_rate:8.1f} samples/s")
    print(f"ratio trainer / bare: {trainer_rate / bare_rate:.2f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
