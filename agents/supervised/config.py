"""Settings every supervised method shares (each method's own settings live with it in `methods.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from agents.common.device import DeviceName


@dataclass
class TrainConfig:
    """Data, network shape and optimisation, the same for every method."""

    train_per_task: int = 40
    """training examples per task (half positives, half negatives)"""
    test_fraction: float = 0.5
    """share of each digit's images held out for the test pool (never used for training)"""
    hidden: int = 32
    """width of every module's output in the trunk"""
    num_layers: int = 2
    """routed trunk layers (the per-task head comes on top)"""
    steps: int = 600
    """optimisation steps per run"""
    batch_size: int = 64
    """examples per mini-batch, drawn from every task's training set together"""
    lr: float = 3e-3
    """Adam learning rate of the modules and heads"""
    weight_decay: float = 1e-4
    """Adam (L2) weight decay of the modules and heads"""
    threads: int = 1
    """torch CPU threads (0 = torch's default; 1 is fastest for these tiny models)"""
    device: DeviceName = "cpu"
    """where to train: cpu, cuda, or auto (a GPU when torch sees one)"""
