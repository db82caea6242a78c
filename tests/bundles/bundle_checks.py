"""What every bundle test runs the same way: ``python -m monai.bundle`` in a subprocess (training, evaluation,
inference: the commands users type), and the model-zoo checks (``verify_net_in_out``, ``verify_metadata``,
``ckpt_export`` against the checkpoint; the two verifications call MONAI's same ``monai.bundle`` functions in
this process, which saves a ~10 s interpreter start each; DDP with two CPU processes). The test modules
supply their bundle, small network and tiny overrides."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCHEMA = Path(__file__).resolve().parent / "meta_schema.json"


def run_bundle(args: list[str], cwd: Path, timeout: int = 180, runner: list[str] | None = None) -> str:
    """Run ``python -m monai.bundle ARGS`` (or ``runner ARGS``) on CPU; assert it succeeds; its output."""
    cmd = [*(runner or [sys.executable, "-m", "monai.bundle"]), *args]
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
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


def ddp_trains_one_epoch(bundle: Path, root: Path, small_net_name: str, tiny: list[str]) -> None:
    """``multi_gpu_train.json`` under torchrun with 2 CPU processes (gloo), 1 epoch, on a fresh copy in ``root``."""
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("models", "eval", "*predictions"))
    configs = config_list(root, "train.json", "multi_gpu_train.json", str(root / small_net_name))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                str(free_port()), "-m", "monai.bundle"]
    out = run_bundle(["run", "training", "--config_file", configs, *meta_args(root), *tiny,
                      "--train#trainer#max_epochs", "1"], root, timeout=240, runner=torchrun)
    assert (root / "models" / "model_final.pt").is_file(), out[-3000:]
    assert out.count("Saved checkpoint at epoch: 1") == 1  # rank 0 only
