"""How a robot module reads the task module's message: concatenated input, or an affine map of it."""

from __future__ import annotations

import pytest
import torch

import envs
from agents.common.module_files import save_modules
from agents.common.multipair import MultiPairEnv
from agents.common.routing_config import RoutingConfig
from agents.common.spec import SuiteSpec
from agents.rl.experiment import ExperimentConfig
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import seed_everything
from agents.rl.recombine import load_policy
from agents.routing.policy import make_policy
from modrl import read_header

SUITE = envs.ARMS6
SPEC = SuiteSpec.from_suite(SUITE)
PAIRS = [("Arm2", "Hold"), ("Arm5", "Push"), ("Arm3Accel", "Avoid")]


def _policy(coupling: str) -> ModularPolicy:
    seed_everything(0)
    policy = ModularPolicy(SPEC, InterfaceConfig(coupling=coupling).resolve("arms6"))
    for p in policy.parameters():  # away from the near-zero initial actor head, so the test can fail
        torch.nn.init.normal_(p.data, std=0.3)
    return policy.eval()


def _means(policy: ModularPolicy, obs, scale: float) -> torch.Tensor:
    """The action means when the actor's message is multiplied by `scale` (the critic's left alone)."""
    masks = torch.ones(obs.robot.shape[0], 2 * policy.interface_dim)
    masks[:, : policy.interface_dim] = scale
    with torch.no_grad():
        return policy.distribution(obs, {"interface_masks": masks}).mean


def test_affine_coupling_acts_affinely_in_the_message_and_concat_does_not():
    obs = MultiPairEnv(SUITE, SPEC, PAIRS, 4).reset(0)
    for coupling, affine in (("affine", True), ("concat", False)):
        policy = _policy(coupling)
        at0, at1, at2 = (_means(policy, obs, s) for s in (0.0, 1.0, 2.0))
        assert torch.allclose(at2 - at1, at1 - at0, atol=1e-5) == affine
        assert not torch.allclose(at1, at0)  # the message matters either way
        assert policy.log_std(obs).shape == (len(obs.robot_ids), SPEC.action_width)


def test_affine_robot_modules_save_load_and_recombine_to_the_same_actions(tmp_path):
    policy = _policy("affine")
    save_modules(policy, tmp_path, "arms6")
    loaded = load_policy(SPEC, tmp_path, tmp_path, list(SPEC.robots), list(SPEC.tasks), suite="arms6").eval()
    assert loaded.affine and loaded.describe()["interface_coupling"] == "affine"
    obs = MultiPairEnv(SUITE, SPEC, PAIRS, 2).reset(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded.distribution(obs, {}).mean, policy.distribution(obs, {}).mean)
    assert "interface_coupling" not in _policy("concat").describe()  # earlier records keep their variant


def test_module_files_record_a_log_std_size_only_where_it_is_not_the_actors_output(tmp_path):
    for coupling, recorded in (("concat", False), ("affine", True)):
        robot_file = save_modules(_policy(coupling), tmp_path / coupling, "arms6")[0]
        assert ("log_std_size" in read_header(robot_file)["config"]) == recorded  # concat files stay as before


def test_bad_couplings_are_refused_and_other_policies_keep_concatenating():
    with pytest.raises(ValueError, match="interface coupling 'bilinear'; valid"):
        InterfaceConfig(coupling="bilinear")
    with pytest.raises(ValueError, match="the modular policy's: add --policy modular"):
        ExperimentConfig(suite="arms", policy=("monolithic",), interface=InterfaceConfig(coupling="affine"), out=None)
    two_stage = make_policy(SPEC, RoutingConfig(layout="two-stage"), "flat", "ppo", "routed-ppo",
                            InterfaceConfig().resolve("arms6"))  # arms6's preset is affine: the stages concatenate
    assert two_stage.interface.coupling == "concat"
    ExperimentConfig(suite="arms6", policy=("routed-ppo",), routing=RoutingConfig(layout="two-stage"), out=None)
