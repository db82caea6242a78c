"""Helpers the bundles' training/inference configs call in short ``$`` expressions."""

from .checkpoint_saver import AtomicCheckpointSaver, AtomicDiskSaver
from .checkpoints import CheckpointMismatchError, CheckpointRecord, find_resume_checkpoint, network_hash
from .collate import mammogram_collate
from .default_data import ensure_default_datalist
from .demo import prediction_datalist, run_demo
from .hard_negatives import HardNegativeMiner, mine_hard_negatives
from .imbalance import (
    IMBALANCE_CHOICES,
    FocalClassificationLoss,
    balanced_sampler,
    class_counts,
    class_weights,
    classification_loss,
)
from .patch_tasks import PATCH_TASKS, PatchTask, patch_task
from .patch_validation import fixed_patches
from .reports import evaluation_summary, print_evaluation_summary
from .resume import BestMetricState, MetricHistory, RandomStates
from .tracking import mlflow_tracking_uri
from .weights import load_pretrained_weights

__all__ = [
    "IMBALANCE_CHOICES",
    "PATCH_TASKS",
    "AtomicCheckpointSaver",
    "AtomicDiskSaver",
    "BestMetricState",
    "CheckpointMismatchError",
    "CheckpointRecord",
    "FocalClassificationLoss",
    "HardNegativeMiner",
    "MetricHistory",
    "PatchTask",
    "RandomStates",
    "balanced_sampler",
    "class_counts",
    "class_weights",
    "classification_loss",
    "ensure_default_datalist",
    "evaluation_summary",
    "find_resume_checkpoint",
    "fixed_patches",
    "load_pretrained_weights",
    "mammogram_collate",
    "mine_hard_negatives",
    "mlflow_tracking_uri",
    "network_hash",
    "patch_task",
    "prediction_datalist",
    "print_evaluation_summary",
    "run_demo",
]
