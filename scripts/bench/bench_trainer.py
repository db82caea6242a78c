"""Benchmark: training samples/s of a bundle's trainer against the bare forward+backward of its network.

Both run in one process on the same network, optimizer, loss, batch and input size:

- ``trainer``  the bundle's ``train#trainer`` (MONAI ``SupervisedTrainer``: DataLoader over the bundle's
               ``CacheDataset`` with its random transforms and workers, postprocessing, the training key
               metric, LR schedule and stats handlers), run for ``--epochs`` after one warm-up epoch (worker
               start-up, first-touch allocations); validation and checkpoint saving are switched off, since
               they are not training;
- ``bare``     a loop of ``zero_grad``, forward, loss, backward, ``step`` on one real batch of the same
               loader (the first one of the warm-up epoch), already in memory.

The two alternate: after each timed trainer epoch (its own epoch-end handlers included) the bare loop runs as
many iterations, so a change in machine load (these VMs share cores: 30 % steal time was seen) hits both
arms alike rather than one. The workers' prefetch of the next epoch's first batches overlaps the bare loop
(2 batches per worker of each epoch: a bias of a few per cent of the data-loading time, towards the trainer).

It prints both rates, ``trainer / bare`` (target >= 0.9: data loading hidden by caching and workers) and
the per-epoch ratios.

    .venv/bin/python scripts/bench/bench_trainer.py [--bundle bundles/mammo_mass_segmentation]
        [--config configs/mias_cpu.json] [--datalist PATH] [--epochs 3] [--threads 2] [--override KEY=JSON ...]

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
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
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
        network, optimizer = config.get_parsed_content("network"), config.get_parsed_content("optimizer")
        loss_fn, device = config.get_parsed_content("loss"), config.get_parsed_content("device")
        held: dict[str, torch.Tensor] = {}
        marks: dict[str, float] = {}
        trainer_s, bare_s, trainer_samples, bare_samples, iterations = 0.0, 0.0, 0, 0, 0
        ratios: list[float] = []

        @trainer.on(Events.ITERATION_COMPLETED(once=1))
        def _hold_batch(engine) -> None:
            batch = engine.state.batch
            held["images"] = torch.as_tensor(batch["image"]).to(device)
            held["labels"] = torch.as_tensor(batch["label"]).to(device)

        @trainer.on(Events.EPOCH_STARTED)
        def _start(_engine) -> None:
            marks["start"] = time.perf_counter()
            marks["iterations"], marks["samples"] = 0, 0

        @trainer.on(Events.ITERATION_COMPLETED)
        def _count(engine) -> None:
            marks["iterations"] += 1
            marks["samples"] += int(engine.state.batch["image"].shape[0])

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(network(held["images"]), held["labels"]).backward()
            optimizer.step()

        @trainer.on(Events.EPOCH_COMPLETED)  # after the bundle's own epoch-end handlers (registered earlier)
        def _alternate(engine) -> None:
            nonlocal trainer_s, bare_s, trainer_samples, bare_samples, iterations
            elapsed = time.perf_counter() - marks["start"]
            n = int(marks["iterations"])
            network.train()
            step()  # warm-up, and the first bare step after a trainer epoch pays for nothing the trainer did not
            if engine.state.epoch == 1:
                return  # the warm-up epoch is not timed
            start = time.perf_counter()
            for _ in range(n):
                step()
            bare = time.perf_counter() - start
            trainer_s, bare_s, iterations = trainer_s + elapsed, bare_s + bare, iterations + n
            trainer_samples += int(marks["samples"])
            bare_samples += n * int(held["images"].shape[0])
            ratios.append((marks["samples"] / elapsed) / (n * int(held["images"].shape[0]) / bare))

        trainer.run()
        images = held["images"]
        trainer_rate, bare_rate = trainer_samples / trainer_s, bare_samples / bare_s

    print(f"network {type(network).__name__}, batch {tuple(images.shape)} on {device}, {args.threads} threads, "
          f"{iterations} iterations per arm, alternating by epoch")
    print(f"trainer (bundle's SupervisedTrainer, data loading included): {trainer_rate:8.1f} samples/s")
    print(f"bare forward+backward+step on one batch in memory:          {bare_rate:8.1f} samples/s")
    print(f"ratio trainer / bare: {trainer_rate / bare_rate:.2f} (target >= 0.9); per epoch: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
