"""--device: auto picks what torch sees, cuda without a GPU is refused, the GPU check runs."""

from __future__ import annotations

import pytest
import torch

from agents.common.device import resolve_device
from agents.rl.experiment import ExperimentConfig
from agents.supervised.config import TrainConfig
from agents.supervised.trainer import run_method

NO_GPU = not torch.cuda.is_available()


def test_auto_is_a_gpu_only_when_torch_sees_one():
    assert resolve_device("auto").type == ("cpu" if NO_GPU else "cuda")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="valid"):
        resolve_device("tpu")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_before_any_run():
    with pytest.raises(ValueError, match="torch sees no GPU"):
        ExperimentConfig(device="cuda")


def test_the_gpu_check_compares_against_the_cpu(script, capsys):
    check = script("check_gpu")
    assert check.main(check.Args(device="cpu" if NO_GPU else "cuda"))
    assert capsys.readouterr().out.count("equal within tolerance") == 2


def test_supervised_training_runs_on_the_chosen_device():
    record = run_method("routing_reinforce", 0, TrainConfig(steps=5, device="auto"))
    assert 0.0 <= record["mean_accuracy"] <= 1.0
