"""Tiny problems and searches shared by the evolution tests (imported by each test file: a conftest.py here
would shadow tests/conftest.py for `from conftest import ROOT`)."""

from __future__ import annotations

import pytest
import torch

from agents.evolution.munet import MuNetConfig
from agents.evolution.pathnet import PathNetConfig
from agents.evolution.problems import DigitsPairs, DigitsSequence


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def pairs() -> DigitsPairs:
    return DigitsPairs(pairs=((0, 1), (3, 8)))


@pytest.fixture
def tiny_pathnet() -> PathNetConfig:
    return PathNetConfig(layers=2, modules=4, active=2, width=8, population=6, steps=10, lr=0.05,
                         tournaments=2, threshold=0.999, max_generations=3)


@pytest.fixture
def sequence() -> DigitsSequence:
    return DigitsSequence(digits=(0, 1, 2), train_per_task=40)


@pytest.fixture
def tiny_munet() -> MuNetConfig:
    return MuNetConfig(layers=2, width=8, capacity=16, generations=2, children=2, steps=10)
