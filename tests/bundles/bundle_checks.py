"""What every bundle test runs the same way: ``python -m monai.bundle`` commands (training, evaluation,
inference: the commands users type), and the model-zoo checks (``verify_net_in_out``, ``verify_metadata``,
``ckpt_export`` against the checkpoint; the two verifications call MONAI's same ``monai.bundle`` functions in
this process; DDP with two CPU processes). :data:`SPECS` holds each bundle's small network and tiny overrides.

Each command is its own process, but not a fresh interpreter: ``bundle_zygote.py`` imports torch and MONAI once
(~10 s a start on 2 cores) and forks a child per command that runs ``monai.bundle``'s ``__main__`` as
``python -m monai.bundle`` does. Set ``MAMMO_TEST_FRESH_SUBPROCESS=1`` to start a fresh ``python -m
monai.bundle`` for every command instead (also the fallback where there is no ``os.fork``)."""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

SCHEMA = Path(__file__).resolve().parent / "meta_schema.json"
BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
ZYGOTE = Path(__file__).resolve().parent / "bundle_zygote.py"
#: called with the process ids of running bundle commands (``run_jobs``)
Watch = Callable[[list[int]], None]
#: what every bundle command runs with (CPU only, one thread, fixed hashing)
ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}

_DENSENET = {"network_def": {"_target_": "DenseNet", "spatial_dims": 2, "in_channels": 1,
                             "out_channels": "@num_classes", "init_features": 8, "growth_rate": 4,
                             "block_config": [2, 2]}}


@dataclass(frozen=True)
class BundleSpec:
    """How the tests run one bundle: a small network, tiny overrides, the shared training and checks."""

    name: str
    small_net: dict  # replaces the default network_def in the tests' runs (which verify_net_in_out checks)
    tiny: tuple[str, ...]  # overrides that keep every run of the bundle fast
    train_epochs: int  # of the shared training (conftest.py ``trained_bundle``)
    train_extra: tuple[str, ...]  # its other overrides
    export_batch: tuple[int, ...]  # ckpt_export compares TorchScript and checkpoint on a batch of this shape
    verify_n: int  # verify_net_in_out's n (spatial sizes divisible by 2**n)
    ddp_extra: tuple[str, ...] = ()  # the DDP run's overrides besides tiny

    @property
    def source(self) -> Path:
        return BUNDLES / self.name


SPECS = {spec.name: spec for spec in (
    BundleSpec("mammo_image_classification", _DENSENET,
               ("--image_size", "64", "--n_patients", "8", "--num_workers", "0", "--batch_size", "4"),
               2, (), (2, 1, 64, 64), 1),
    BundleSpec("mammo_lesion_classification", _DENSENET,
               ("--crop_size", "64", "--crop_min_size", "32", "--n_patients", "8", "--num_workers", "0",
                "--batch_size", "4"),
               2, (), (2, 1, 64, 64), 1),
    BundleSpec("mammo_mass_segmentation",
               {"network_def": {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1,
                                "out_channels": "@num_classes", "channels": [8, 16, 32], "strides": [2, 2],
                                "num_res_units": 1}},
               ("--image_size", "64", "--n_patients", "6", "--num_workers", "0", "--batch_size", "2",
                "--patch_size", "[32,32]", "--patches_per_image", "2", "--patch_jitter", "4",
                "--patch_min_distance", "4"),
               1, (), (1, 1, 64, 64), 2),
    BundleSpec("mammo_patch_detection", _DENSENET,
               ("--synthetic_shape", "[512, 320]", "--pixdim", "0.4", "--patch_size", "16", "--num_samples", "4",
                "--num_workers", "0", "--batch_size", "2", "--nms_distance_mm", "4"),
               2, ("--hard_negative_mining", "True", "--mining_start_epoch", "1", "--mining_interval", "1",
                   "--mining_threshold", "0.0"), (2, 1, 16, 16), 1,
               ddp_extra=("--hard_negative_mining", "True", "--mining_start_epoch", "1")),
)}


def fresh_subprocesses() -> bool:
    return os.environ.get("MAMMO_TEST_FRESH_SUBPROCESS", "") not in ("", "0") or not hasattr(os, "fork")


class _Zygote:
    """The client of ``bundle_zygote.py``: one per pytest process, started at its first command."""

    def __init__(self) -> None:
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, str(ZYGOTE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errors, env=ENV, cwd=Path(__file__).resolve().parents[2])
        self.buffer = b""
        self.read(time.monotonic() + 300)  # {"ready": true}: imported

    def read(self, deadline: float) -> dict | None:
        """The next reply, or ``None`` once ``deadline`` passed."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self.errors.seek(0)
                raise RuntimeError(f"bundle_zygote.py exited ({self.proc.wait()}):\n"
                                   f"{self.errors.read().decode(errors='replace')[-4000:]}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self, jobs: list[dict], timeout: float, watch: Watch | None = None) -> list[int] | None:
        """Run ``jobs`` side by side; their exit statuses, or ``None`` (and the children killed) on a timeout.
        ``watch(pids)`` runs once they are forked (e.g. to kill one mid-run)."""
        self.proc.stdin.write((json.dumps({"jobs": jobs}) + "\n").encode())
        self.proc.stdin.flush()
        started = self.read(time.monotonic() + 60)
        if started is None:
            raise RuntimeError("bundle_zygote.py did not fork its children within 60 s")
        pids = started["pids"]
        if watch is not None:
            watch(pids)
        done = self.read(time.monotonic() + timeout)
        if done is not None:
            return done["rcs"]
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self.read(time.monotonic() + 60)
        return None

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_zygote: _Zygote | None = None


def _the_zygote() -> _Zygote:
    global _zygote
    if _zygote is None or _zygote.proc.poll() is not None:
        _zygote = _Zygote()
        atexit.register(_zygote.close)
    return _zygote


def run_jobs(jobs: list[tuple[list[str], Path, dict[str, str]]], timeout: int = 180, watch: Watch | None = None,
             log_dir: Path | None = None) -> list[tuple[int, str]]:
    """Run ``python -m monai.bundle ARGS`` with ``cwd`` and extra ``env`` for each job, side by side, on CPU;
    their exit statuses and outputs (stdout and stderr as they came). A timeout fails the test.

    ``watch(pids)`` is called once the commands run (their process ids, in ``jobs`` order) and may signal them;
    their outputs grow meanwhile in ``log_dir/<k>.log`` (a temporary folder when not given)."""
    cmds = [" ".join(["python -m monai.bundle", *args]) for args, _, _ in jobs]
    with tempfile.TemporaryDirectory() as tmp:
        logs = [Path(log_dir or tmp) / f"{k}.log" for k in range(len(jobs))]
        if fresh_subprocesses():
            rcs = _run_fresh(jobs, logs, timeout, watch)
        else:
            rcs = _the_zygote().run([{"argv": [str(a) for a in args], "cwd": str(cwd), "env": env, "log": str(log)}
                                     for (args, cwd, env), log in zip(jobs, logs)], timeout, watch)
        outs = [log.read_text(errors="replace") if log.is_file() else "" for log in logs]
    if rcs is None:
        pytest.fail(f"timed out after {timeout} s: {cmds}\n{outs[0][-4000:]}")
    return list(zip(rcs, outs))


def _run_fresh(jobs: list[tuple[list[str], Path, dict[str, str]]], logs: list[Path], timeout: int,
               watch: Watch | None) -> list[int] | None:
    """``run_jobs`` with a fresh ``python -m monai.bundle`` per job (``MAMMO_TEST_FRESH_SUBPROCESS=1``)."""
    procs = []
    for (args, cwd, env), log in zip(jobs, logs):
        with open(log, "wb") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", "monai.bundle", *args], cwd=cwd, stdout=out,
                                          stderr=subprocess.STDOUT, env={**ENV, **env}))
    if watch is not None:
        watch([p.pid for p in procs])
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(deadline - time.monotonic(), 0.1)) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
            p.wait()
        return None


def run_bundle_status(args: list[str], cwd: Path, timeout: int = 180) -> tuple[int, str]:
    """Run ``python -m monai.bundle ARGS`` on CPU: its exit status and output."""
    return run_jobs([(args, cwd, {})], timeout)[0]


def run_bundle(args: list[str], cwd: Path, timeout: int = 180, runner: list[str] | None = None) -> str:
    """Run ``python -m monai.bundle ARGS`` (or a fresh ``runner ARGS``) on CPU; assert it succeeds; its output."""
    if runner is None:
        rc, out = run_bundle_status(args, cwd, timeout)
        assert rc == 0, f"python -m monai.bundle {' '.join(args)} failed ({rc}):\n{out[-6000:]}"
        return out
    cmd = [*runner, *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


def config_list(root: Path, *names: str) -> str:
    """``--config_file`` value: names relative to ``root/configs`` (absolute paths as they are)."""
    return json.dumps([str(root / "configs" / n) if not os.path.isabs(n) else n for n in names])


def meta_args(root: Path) -> list[str]:
    return ["--meta_file", str(root / "configs" / "metadata.json"),
            "--logging_file", str(root / "configs" / "logging.conf"), "--bundle_root", str(root)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify_net_in_out(bundle: Path, n: int) -> None:
    """The bundle's default ``network_def`` against its ``network_data_format`` (``monai.bundle
    verify_net_in_out``; it raises on a mismatch)."""
    from monai.bundle import verify_net_in_out as verify

    verify("network_def", meta_file=str(bundle / "configs" / "metadata.json"),
           config_file=str(bundle / "configs" / "inference.json"), n=n, device="cpu", bundle_root=str(bundle))


def verify_metadata(bundle: Path, cwd: Path) -> None:
    """``monai.bundle verify_metadata`` offline, against the schema shipped with the tests (raises when invalid)."""
    pytest.importorskip("jsonschema", reason="monai.bundle verify_metadata needs jsonschema")
    from monai.bundle import verify_metadata as verify

    verify(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(SCHEMA))


def ckpt_export_matches_checkpoint(bundle: Path, small_net: Path, batch_shape: tuple[int, ...]) -> None:
    """``ckpt_export`` of ``models/model.pt`` gives a TorchScript model with the checkpoint's output."""
    from monai.bundle import ConfigParser

    # in a subprocess: TorchScript caches what it compiled per class, so scripting the bundle's network in this
    # process would leak into later tests scripting the same MONAI classes with other submodules
    ts_path = bundle / "models" / "model.ts"
    run_bundle(["ckpt_export", "network_def", "--filepath", str(ts_path), "--ckpt_file",
                str(bundle / "models" / "model.pt"), "--meta_file", str(bundle / "configs" / "metadata.json"),
                "--config_file", config_list(bundle, "inference.json", str(small_net)),
                "--bundle_root", str(bundle)], bundle)
    scripted = torch.jit.load(str(ts_path), map_location="cpu").eval()
    parser = ConfigParser()
    parser.read_config([str(bundle / "configs" / "inference.json"), str(small_net)])
    net = parser.get_parsed_content("network_def").eval()
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True))
    x = torch.rand(*batch_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x))


def train_bundle(spec: BundleSpec, root: Path) -> Path:
    """A copy of ``spec``'s bundle in ``root``, with ``small_net.json``, trained ``spec.train_epochs`` epochs on
    the embedded default data (generated there); the training's output in ``root/training.log``."""
    shutil.copytree(spec.source, root, ignore=shutil.ignore_patterns("models", "data", "eval", "*predictions"))
    (root / "small_net.json").write_text(json.dumps(spec.small_net))
    out = run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                      *meta_args(root), *spec.tiny, *spec.train_extra,
                      "--train#trainer#max_epochs", str(spec.train_epochs)], root)
    (root / "training.log").write_text(out)
    return root


def ddp_trains_one_epoch(spec: BundleSpec, bundle: Path, root: Path, torchrun: bool) -> None:
    """``multi_gpu_train.json`` on 2 CPU processes (gloo), 1 epoch, on a fresh copy of ``bundle`` in ``root``:
    under ``torchrun`` (``python -m torch.distributed.run --nproc_per_node 2 -m monai.bundle ...``, the documented
    command), or as two ``python -m monai.bundle`` ranks given the environment torchrun gives its workers
    (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT`` for ``init_process_group``'s
    ``env://``): the same two-process gloo training without the launcher's three extra interpreter starts."""
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("models", "eval", "*predictions"))
    configs = config_list(root, "train.json", "multi_gpu_train.json", str(root / "small_net.json"))
    args = ["run", "training", "--config_file", configs, *meta_args(root), *spec.tiny, *spec.ddp_extra,
            "--train#trainer#max_epochs", "1"]
    port = str(free_port())
    if torchrun:
        out = run_bundle(args, root, timeout=240, runner=[sys.executable, "-m", "torch.distributed.run",
                                                          "--nproc_per_node", "2", "--master_port", port,
                                                          "-m", "monai.bundle"])
    else:
        ranks = run_jobs([(args, root, {"RANK": str(r), "LOCAL_RANK": str(r), "GROUP_RANK": "0", "WORLD_SIZE": "2",
                                        "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port})
                          for r in range(2)], timeout=240)
        for rank, (rc, rank_out) in enumerate(ranks):
            assert rc == 0, f"rank {rank} failed ({rc}):\n{rank_out[-6000:]}"
        out = "".join(rank_out for _, rank_out in ranks)
    assert (root / "models" / "model_final.pt").is_file(), out[-3000:]
    assert out.count("Saved checkpoint at epoch: 1") == 1  # rank 0 only
