"""Every module kind, alone and in a bank (ModuleBank, HyperBank, HyperBank with factors), from one table.

Each bank case is checked against a per-sample reference built from standalone modules
(`bank.module(i)`), so a grouping, stacking or merging mistake shows up as a mismatch.
"""

from __future__ import annotations

import copy
import json
import pickle

import pytest
import torch

import modrl
from modrl import HyperBank, ModuleBank, build_module
from modrl.io import load_into_bank, load_module, read_header, save_bank, save_module

B, M = 10, 4

# kind, config, expected out_features
MODULE_CASES = {
    "mlp": ("mlp", dict(in_features=6, out_features=5, hidden=[7, 3], activation="tanh"), 5),
    "mlp_final_act": ("mlp", dict(in_features=6, out_features=5, hidden=[4], activation="gelu", final_activation=True), 5),
    "linear": ("linear", dict(in_features=6, out_features=5), 5),
    "linear_nobias": ("linear", dict(in_features=6, out_features=5, bias=False), 5),
    "adapter": ("adapter", dict(in_features=6, bottleneck=3), 6),
    "adapter_parallel": ("adapter", dict(in_features=6, bottleneck=3, out_features=5, residual=False), 5),
    "lora": ("lora", dict(in_features=6, out_features=5, rank=2, alpha=2.0), 5),
    "film": ("film", dict(in_features=6), 6),
    "film_noshift": ("film", dict(in_features=6, shift=False), 6),
    "prompt": ("prompt", dict(in_features=6, prompt_features=3), 9),
}

BANK_TYPES = {
    "bank": lambda kind, cfg: ModuleBank(kind, M, **cfg),
    "hyper": lambda kind, cfg: HyperBank(kind, M, embedding_dim=3, **cfg),
    "hyper_factors": lambda kind, cfg: HyperBank(kind, M, embedding_dim=3, factors=(2, 2), **cfg),
}

BANK_CASES = [pytest.param(m, b, id=f"{b}-{m}") for b in BANK_TYPES for m in MODULE_CASES]


@torch.no_grad()
def randomize(obj: torch.nn.Module, std: float = 0.5) -> None:
    """Random parameters everywhere: zero-initialised parts (LoRA B, adapter up) would hide bugs."""
    for p in obj.parameters():
        p.add_(torch.randn_like(p) * std)


def make_bank(module_case: str, bank_type: str, seed: int = 0) -> ModuleBank:
    torch.manual_seed(seed)
    kind, cfg, _ = MODULE_CASES[module_case]
    bank = BANK_TYPES[bank_type](kind, dict(cfg))
    randomize(bank)
    return bank


def inputs(module_case: str, n: int = B, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, MODULE_CASES[module_case][1]["in_features"], generator=torch.Generator().manual_seed(seed))


def reference(bank: ModuleBank, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Sample b through a standalone copy of module indices[b]: the slow, obviously right loop."""
    modules = [bank.module(i) for i in range(bank.num_modules)]
    return torch.cat([modules[int(i)](x[b : b + 1]) for b, i in enumerate(indices)])


def merged_module(bank: ModuleBank, w: torch.Tensor) -> modrl.Module:
    kind, cfg = bank.kind, bank.config
    module = build_module(kind, **cfg)
    with torch.no_grad():
        module.load_state_dict({n: torch.einsum("m,m...->...", w, p) for n, p in bank.stacked().items()})
    return module


# -- single modules ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", MODULE_CASES)
def test_module_shapes_finite_and_all_parameters_learn(case):
    kind, cfg, out = MODULE_CASES[case]
    torch.manual_seed(0)
    module = build_module(kind, **cfg)
    assert module.kind == kind and module.out_features == out
    randomize(module)
    y = module(inputs(case))
    assert y.shape == (B, out) and torch.isfinite(y).all()
    y.pow(2).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case", MODULE_CASES)
def test_module_save_load_round_trip(case, tmp_path):
    kind, cfg, _ = MODULE_CASES[case]
    module = build_module(kind, **cfg)
    randomize(module)
    path = save_module(module, tmp_path / "sub" / "m.pt", robot="Arm3")
    loaded = load_module(path)
    assert type(loaded) is type(module) and loaded.spec() == module.spec()
    header = read_header(path)
    assert header["kind"] == kind and header["metadata"] == {"robot": "Arm3"}
    x = inputs(case)
    assert torch.equal(loaded(x), module(x))


@pytest.mark.parametrize("case", ["linear", "film"])
def test_module_construction_is_seeded(case):
    kind, cfg, _ = MODULE_CASES[case]
    x = inputs(case)
    outs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        m = build_module(kind, **cfg)
        randomize(m)
        outs.append(m(x))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


# -- banks: computation against references ----------------------------------------------------


@pytest.mark.parametrize("module_case,bank_type", BANK_CASES)
def test_bank_forward_grouped_matches_per_sample_loop(module_case, bank_type):
    bank = make_bank(module_case, bank_type)
    x = inputs(module_case)
    indices = torch.tensor([3, 0, 0, 2, 1, 3, 3, 0, 2, 1])
    y = bank.forward_grouped(x, indices)
    assert y.shape == (B, MODULE_CASES[module_case][2]) and torch.isfinite(y).all()
    torch.testing.assert_close(y, reference(bank, x, indices), rtol=1e-5, atol=1e-5)
    # one module for the whole batch (the ungrouped fast path) and a skewed batch leaving modules unused
    for idx in (torch.full((B,), 2), torch.tensor([1] * 8 + [3] * 2)):
        torch.testing.assert_close(bank.forward_grouped(x, idx), reference(bank, x, idx), rtol=1e-5, atol=1e-5)
    assert bank.forward_grouped(x[:0], indices[:0]).shape == (0, MODULE_CASES[module_case][2])


@pytest.mark.parametrize("module_case,bank_type", BANK_CASES)
def test_bank_topk_all_and_merged_match_references(module_case, bank_type):
    bank = make_bank(module_case, bank_type)
    x = inputs(module_case)
    top = torch.tensor([[0, 2], [1, 3], [3, 3], [2, 0], [1, 2], [0, 1], [3, 1], [2, 2], [0, 3], [1, 0]])
    y = bank.forward_topk(x, top)
    assert y.shape == (B, 2, MODULE_CASES[module_case][2])
    for j in range(2):
        torch.testing.assert_close(y[:, j], reference(bank, x, top[:, j]), rtol=1e-5, atol=1e-5)

    every = bank.forward_all(x)
    assert every.shape == (M, B, MODULE_CASES[module_case][2])
    for i in range(M):
        torch.testing.assert_close(every[i], bank.module(i)(x), rtol=1e-5, atol=1e-5)

    w = torch.softmax(torch.randn(M, generator=torch.Generator().manual_seed(3)), 0)
    torch.testing.assert_close(bank.forward_merged(x, w), merged_module(bank, w)(x), rtol=1e-5, atol=1e-5)
    wb = torch.softmax(torch.randn(B, M, generator=torch.Generator().manual_seed(4)), 1)
    per_sample = torch.cat([merged_module(bank, wb[b])(x[b : b + 1]) for b in range(B)])
    torch.testing.assert_close(bank.forward_merged(x, wb), per_sample, rtol=1e-5, atol=1e-5)


def test_hyperbank_factors_share_embeddings():
    """Module t·R + r is generated from task embedding t and robot embedding r."""
    bank = make_bank("linear", "hyper_factors")
    codes = bank.codes()
    assert codes.shape == (M, 6)
    emb_t, emb_r = bank.embeddings
    for t in range(2):
        for r in range(2):
            torch.testing.assert_close(codes[2 * t + r], torch.cat([emb_t[t], emb_r[r]]))


# -- banks: what learns and what is frozen ----------------------------------------------------


def bank_grad_rows(bank: ModuleBank) -> list[torch.Tensor]:
    """Per-module gradient magnitudes [M] of the parameters whose rows belong to one module."""
    if isinstance(bank, HyperBank):
        return [bank.embeddings[0].grad.abs().flatten(1).sum(1)]
    return [p.grad.abs().flatten(1).sum(1) for p in bank.params]


@pytest.mark.parametrize("module_case,bank_type", [c for c in BANK_CASES if c.values[1] != "hyper_factors"])
@pytest.mark.parametrize("copied", [False, True], ids=["same", "deepcopy"])
def test_bank_freeze_stops_gradients_of_that_module_only(module_case, bank_type, copied):
    bank = make_bank(module_case, bank_type)
    if copied:  # freezing must survive copies (PathNet copies networks)
        bank = copy.deepcopy(bank)
    x = inputs(module_case, n=12)
    indices = torch.arange(12) % M
    bank.freeze(1, 3)
    assert bank.frozen.tolist() == [False, True, False, True]
    bank.forward_grouped(x, indices).pow(2).sum().backward()
    for rows in bank_grad_rows(bank):
        assert rows[1] == 0 and rows[3] == 0
        assert rows[0] > 0 and rows[2] > 0
    if isinstance(bank, HyperBank):  # the shared generator still learns
        assert bank.generator.grad.abs().sum() > 0 and bank.base.grad.abs().sum() > 0
    bank.zero_grad()
    bank.unfreeze(1, 3)
    bank.forward_all(x).pow(2).sum().backward()
    for rows in bank_grad_rows(bank):
        assert (rows > 0).all()


def test_bank_freeze_survives_pickling():
    bank = make_bank("linear", "bank")
    bank.freeze(0)
    clone = pickle.loads(pickle.dumps(bank))
    clone.forward_all(inputs("linear")).sum().backward()
    assert clone.params[0].grad[0].abs().sum() == 0 and clone.params[0].grad[1].abs().sum() > 0


def test_hyperbank_with_factors_cannot_freeze_a_module():
    bank = make_bank("linear", "hyper_factors")
    with pytest.raises(NotImplementedError, match="factor"):
        bank.freeze(0)


@pytest.mark.parametrize("bank_type", BANK_TYPES)
def test_bank_construction_is_seeded(bank_type):
    x = inputs("mlp")
    idx = torch.arange(B) % M
    a, b, c = (make_bank("mlp", bank_type, seed=s).forward_grouped(x, idx) for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.allclose(a, c)


# -- save / load ------------------------------------------------------------------------------


@pytest.mark.parametrize("module_case", MODULE_CASES)
def test_save_bank_then_load_into_a_fresh_bank(module_case, tmp_path):
    bank = make_bank(module_case, "bank", seed=0)
    paths = save_bank(bank, tmp_path, names=["a", "b", "c", "d"], run="r1")
    assert [p.name for p in paths] == ["a.pt", "b.pt", "c.pt", "d.pt"]
    assert read_header(paths[2])["metadata"] == {"name": "c", "run": "r1"}
    fresh = make_bank(module_case, "bank", seed=1)
    x = inputs(module_case)
    assert not torch.allclose(fresh.forward_all(x), bank.forward_all(x))
    for i, p in enumerate(reversed(paths)):  # slots permuted: module d goes to slot 0, ...
        load_into_bank(fresh, i, p)
    torch.testing.assert_close(fresh.forward_all(x), bank.forward_all(x).flip(0), rtol=0, atol=0)


@pytest.mark.parametrize("bank_type", ["hyper", "hyper_factors"])
def test_hyperbank_saves_generated_modules(bank_type, tmp_path):
    bank = make_bank("mlp", bank_type)
    paths = save_bank(bank, tmp_path)
    x = inputs("mlp")
    for i, p in enumerate(paths):
        torch.testing.assert_close(load_module(p)(x), bank.forward_one(x, i))
    with pytest.raises(NotImplementedError):
        load_into_bank(bank, 0, paths[1])


def test_load_into_bank_rejects_other_kind_or_config(tmp_path):
    bank = make_bank("linear", "bank")
    other = save_module(build_module("linear", in_features=6, out_features=4), tmp_path / "a.pt")
    with pytest.raises(ValueError, match="does not fit"):
        load_into_bank(bank, 0, other)
    film = save_module(build_module("film", in_features=6), tmp_path / "b.pt")
    with pytest.raises(ValueError, match="does not fit"):
        load_into_bank(bank, 0, film)
    with pytest.raises(IndexError):
        load_into_bank(bank, M, save_module(bank.module(0), tmp_path / "c.pt"))


class _NotATensor:
    pass


BAD_FILES = {
    "text": lambda p: p.write_text("not a checkpoint"),
    "empty": lambda p: p.write_bytes(b""),
    "plain_state_dict": lambda p: torch.save({"weight": torch.zeros(2)}, p),
    "other_format": lambda p: torch.save({"header": json.dumps({"format": "other/9"}), "state_dict": {}}, p),
    "header_not_json_object": lambda p: torch.save({"header": "[1, 2]", "state_dict": {}}, p),
    "pickled_object": lambda p: torch.save({"header": _NotATensor(), "state_dict": {}}, p),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_loading_a_non_modrl_file_raises_value_error(case, tmp_path):
    path = tmp_path / "bad.pt"
    BAD_FILES[case](path)
    with pytest.raises(ValueError):
        load_module(path)


def test_io_loads_with_weights_only(tmp_path, monkeypatch):
    path = save_module(build_module("linear", in_features=2, out_features=2), tmp_path / "m.pt")
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_module(path)
    assert seen and all(w is True for w in seen)


# -- clear errors -----------------------------------------------------------------------------

BANK_ERRORS = {
    "input_width": (lambda b: b.forward_grouped(torch.randn(3, 5), torch.zeros(3, dtype=torch.long)), ValueError, r"\[B, 6\], got \(3, 5\)"),
    "input_rank": (lambda b: b.forward_all(torch.randn(6)), ValueError, r"\[B, 6\]"),
    "ids_shape": (lambda b: b.forward_grouped(torch.randn(3, 6), torch.zeros(3, 1, dtype=torch.long)), ValueError, "shape"),
    "ids_batch": (lambda b: b.forward_grouped(torch.randn(3, 6), torch.zeros(4, dtype=torch.long)), ValueError, "shape"),
    "ids_float": (lambda b: b.forward_grouped(torch.randn(3, 6), torch.zeros(3)), ValueError, "integer"),
    "ids_too_big": (lambda b: b.forward_grouped(torch.randn(3, 6), torch.tensor([0, M, 1])), IndexError, "range"),
    "ids_negative": (lambda b: b.forward_grouped(torch.randn(3, 6), torch.tensor([0, -1, 1])), IndexError, "range"),
    "ids_all_too_big": (lambda b: b.forward_grouped(torch.randn(3, 6), torch.full((3,), M)), IndexError, "range"),
    "topk_shape": (lambda b: b.forward_topk(torch.randn(3, 6), torch.zeros(3, dtype=torch.long)), ValueError, "k"),
    "merge_width": (lambda b: b.forward_merged(torch.randn(3, 6), torch.ones(M + 1)), ValueError, "merge weights"),
    "merge_rank": (lambda b: b.forward_merged(torch.randn(3, 6), torch.ones(1, 3, M)), ValueError, "merge weights"),
    "module_index": (lambda b: b.module(M), IndexError, "out of range"),
    "forward_one_index": (lambda b: b.forward_one(torch.randn(3, 6), -1), IndexError, "out of range"),
    "freeze_index": (lambda b: b.freeze(M), IndexError, "out of range"),
}


@pytest.mark.parametrize("case", BANK_ERRORS)
def test_bank_errors(case):
    call, exc, match = BANK_ERRORS[case]
    with pytest.raises(exc, match=match):
        call(make_bank("linear", "bank"))


CONFIG_ERRORS = {
    "unknown_kind": (lambda: build_module("conv", in_features=2), r"valid: \[.*'adapter'.*'linear'.*'mlp'"),
    "bank_unknown_kind": (lambda: ModuleBank("conv", 2, in_features=2), r"unknown module kind 'conv'; valid"),
    "negative_in": (lambda: build_module("linear", in_features=-1, out_features=2), "in_features"),
    "zero_out": (lambda: build_module("mlp", in_features=2, out_features=0), "out_features"),
    "negative_hidden": (lambda: build_module("mlp", in_features=2, out_features=2, hidden=[4, -3]), r"hidden\[1\]"),
    "hidden_int": (lambda: build_module("mlp", in_features=2, out_features=2, hidden=64),
                   r"hidden must be a list of layer widths, e.g. \[64\], got 64"),
    "hidden_str": (lambda: build_module("mlp", in_features=2, out_features=2, hidden="64"),
                   r"hidden must be a list of layer widths, e.g. \[64\], got '64'"),
    "hidden_float": (lambda: build_module("mlp", in_features=2, out_features=2, hidden=[64.5]),
                     r"integer layer widths, got \[64.5\]"),
    "unknown_activation": (lambda: build_module("mlp", in_features=2, out_features=2, activation="swish"),
                           r"unknown activation 'swish'; valid: \['gelu', 'identity', 'relu', 'tanh'\]"),
    "adapter_activation": (lambda: build_module("adapter", in_features=2, activation="nope"), "unknown activation"),
    "adapter_residual_width": (lambda: build_module("adapter", in_features=4, out_features=3), "residual"),
    "lora_rank": (lambda: build_module("lora", in_features=4, out_features=3, rank=0), "rank"),
    "film_width": (lambda: build_module("film", in_features=-2), "in_features"),
    "prompt_width": (lambda: build_module("prompt", in_features=4, prompt_features=0), "prompt_features"),
    "num_modules": (lambda: ModuleBank("linear", 0, in_features=2, out_features=2), "num_modules"),
    "hyper_factors": (lambda: HyperBank("linear", 4, factors=(3, 2), in_features=2, out_features=2), "multiply"),
    "hyper_embedding": (lambda: HyperBank("linear", 4, embedding_dim=0, in_features=2, out_features=2), "embedding_dim"),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS)
def test_config_errors(case):
    call, match = CONFIG_ERRORS[case]
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("case", MODULE_CASES)
def test_module_rejects_wrong_input_width(case):
    kind, cfg, _ = MODULE_CASES[case]
    with pytest.raises(ValueError, match="expects inputs with 6 features"):
        build_module(kind, **cfg)(torch.randn(2, 7))
