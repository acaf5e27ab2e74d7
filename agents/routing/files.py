"""A routed policy as files: one file per module, with its bank and layer, and the routers with the
metadata embeddings in a file of their own.

    <dir>/layer0/module0.pt … <dir>/layer{L-1}/module{M-1}.pt   routed modules (`modrl.save_module`)
    <dir>/robot/<robot>.pt                                        per-robot actor-critic heads (generic layout)
    <dir>/critic/critic.pt                                        the unrouted critic
    <dir>/routers.pt                                              routers + embeddings, the policy's
                                                                  name, settings and suite spec (two-stage:
                                                                  also the interface and each robot-stage
                                                                  module's log std)
Module files are ordinary modrl module files (`modrl.load_module` reads any one of them);
`load_routed` rebuilds the whole policy.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from agents.common.module_files import origin
from agents.common.spec import SuiteSpec
from agents.common.routing_config import HierarchicalConfig, ReinforceConfig, RoutingConfig
from agents.rl.interface import InterfaceConfig
from agents.routing.policy import RoutedPolicy, make_policy
from agents.routing.two_stage import TwoStageRoutedPolicy
from modrl import load_module, read_header, save_module

MODULE_PREFIXES = ("trunk.layers.", "head.", "critic.")  # state-dict keys kept in module files, routers aside


def _router_key(key: str) -> bool:
    return not key.startswith(MODULE_PREFIXES) or ".router." in key

ROUTERS_FILE = "routers.pt"
FORMAT = "modrl-routers-1"


def save_routed(policy: RoutedPolicy, directory: str | Path, suite: str) -> list[Path]:
    """Write every module of `policy` and its routers under `directory`; the paths written."""
    directory = Path(directory)
    paths = []
    for role, (bank, names) in policy.routed_banks().items():
        layer = {"layer": role.removeprefix("layer")} if role.startswith("layer") else {}
        for i, name in enumerate(names):
            paths.append(save_module(bank.module(i), directory / role / f"{name}.pt", name=name, role=role, bank=role,
                                     index=str(i), policy=policy.name, **layer, **origin(suite)))
    paths.append(save_module(policy.critic, directory / "critic" / "critic.pt", name="critic", role="critic",
                             bank="critic", index="0", policy=policy.name, **origin(suite)))
    routers = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items() if _router_key(k)}
    header = {"format": FORMAT, "policy": policy.name, "router": policy.router_kind, "trainer": policy.trainer,
              "config": asdict(policy.config), "spec": policy.spec.to_dict(), **origin(suite)}
    if isinstance(policy, TwoStageRoutedPolicy):
        header["interface"] = asdict(policy.interface)
    path = directory / ROUTERS_FILE
    torch.save({"header": json.dumps(header), "state_dict": routers}, path)
    return [*paths, path]


def load_routed(directory: str | Path, suite: str | None = None) -> RoutedPolicy:
    """The routed policy saved under `directory` by `save_routed` (checked against `suite` when given)."""
    directory = Path(directory)
    path = directory / ROUTERS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {ROUTERS_FILE} under {directory}: not a routed policy saved by save_routed")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    header = json.loads(blob["header"])
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} has format {header.get('format')!r}, expected {FORMAT!r}")
    if suite is not None and header.get("suite") != suite:
        raise ValueError(f"{path} was trained on suite {header.get('suite')!r}, not {suite!r}")
    config = dict(header["config"])
    config = RoutingConfig(**config | {"reinforce": ReinforceConfig(**config["reinforce"]),
                                       "hierarchical": HierarchicalConfig(**config["hierarchical"])})
    interface = InterfaceConfig(**header["interface"]) if "interface" in header else None
    policy = make_policy(SuiteSpec.from_dict(header["spec"]), config, header["router"], header["trainer"],
                         header["policy"], interface)
    missing = [k for k in policy.state_dict() if k not in blob["state_dict"] and _router_key(k)]
    if missing:
        raise ValueError(f"{path} lacks {missing[:3]}{'…' if len(missing) > 3 else ''}: saved by another version?")
    policy.load_state_dict(blob["state_dict"], strict=False)
    for role, (bank, names) in policy.routed_banks().items() | {"critic": (None, ("critic",))}.items():
        for i, name in enumerate(names):
            file = directory / role / f"{name}.pt"
            if not file.exists():
                raise FileNotFoundError(f"no module file {file} (the policy has {len(names)} modules in {role})")
            metadata = read_header(file)["metadata"]
            if metadata.get("policy") != header["policy"] or metadata.get("bank") != role:
                raise ValueError(f"{file} is module {metadata.get('name')!r} of bank {metadata.get('bank')!r} of a "
                                 f"{metadata.get('policy')!r} policy, not of {role} of this {header['policy']!r} one")
            module = load_module(file)
            if bank is None:
                policy.critic.load_state_dict(module.state_dict())
            else:
                bank.load_module(i, module)
    return policy
