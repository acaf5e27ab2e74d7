"""A stable-baselines3 policy made of one robot module and one task module (issue #4).

    import gymnasium
    from stable_baselines3 import PPO
    import envs  # registers the ids
    from agents.sb3 import SB3ModularPolicy

    env = gymnasium.make("modrl/Arm2-ReachRed-v1")
    model = PPO(SB3ModularPolicy, env, policy_kwargs=dict(suite="arms", robot="Arm2", task="ReachRed"))
    model.learn(10_000)
    model.policy.save_modules("run/modules")   # dir/robot/Arm2.pt, dir/task/ReachRed.pt

It plugs into SB3 at its extension points and nowhere else:

- `PairFeatures` (a `BaseFeaturesExtractor`) zero-pads obs["task"] and
  obs["robot"] to the suite's widths and returns [task | robot];
- `ModulePair` (the `mlp_extractor`) runs task module → robot module, the
  same computation as `agents.rl.policies.ModularPolicy` for one pair;
- `SB3ModularPolicy._build` wires SB3's heads as pass-throughs.

The robot module's own outputs are the action distribution: its actor
output (cut to the robot's action size) is the Gaussian mean (or the
logits, for a discrete suite), its `log_std` the log standard deviation and
its critic output the value. SB3's `action_net` and `value_net` are
identities and SB3 adds no `log_std` of its own. So the two module files
*are* the policy: modules trained by `agents.rl.ppo` load here and act exactly as
they did there, and modules trained here load into `ModularPolicy` (the
alternative, a fresh `Linear` head on top of the robot module, would leave
part of every SB3-trained policy outside its module files, and modules
trained elsewhere would start behind an untrained head).

Every policy kwarg is a plain string, number or tuple, so `model.save` /
`PPO.load` work. `PPO.load` rebuilds the policy from the same kwargs, so it
re-reads `robots_from` / `tasks_from` (then overwrites them with the saved
weights); if those files are gone, pass
`custom_objects={"policy_kwargs": {...}}` without them.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor, nn


from agents.common.module_files import ROLES, load_module_file, module_path, save_modules
from agents.common.spec import SuiteSpec
from agents.rl.interface import default_width
from agents.rl.policies import ROBOT_HIDDEN, TASK_HIDDEN, robot_coupling
from envs import get_suite
from modrl import Module, build_module


class PairFeatures(BaseFeaturesExtractor):
    """Dict(robot, task) observation → [task padded to task_width | robot padded to robot_width]."""

    def __init__(self, observation_space: spaces.Dict, task_width: int, robot_width: int) -> None:
        super().__init__(observation_space, features_dim=task_width + robot_width)
        self.task_width, self.robot_width = task_width, robot_width

    def forward(self, observations: dict[str, Tensor]) -> Tensor:
        task, robot = observations["task"].flatten(1), observations["robot"].flatten(1)
        pad = nn.functional.pad
        return torch.cat([pad(task, (0, self.task_width - task.shape[1])),
                          pad(robot, (0, self.robot_width - robot.shape[1]))], -1)


class ModulePair(nn.Module):
    """SB3's `mlp_extractor`: features [task | robot] → task module → robot module.

    latent_pi is the robot module's actor output cut to the robot's own
    `action_dim` entries (mean or logits); latent_vf is its critic output (the value).
    """

    def __init__(self, task: Module, robot: Module, task_width: int, action_dim: int) -> None:
        super().__init__()
        self.task, self.robot = task, robot
        self.task_width, self.action_dim = task_width, action_dim
        self.latent_dim_pi, self.latent_dim_vf = action_dim, 1

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        task_obs, robot_obs = features.split([self.task_width, features.shape[1] - self.task_width], -1)
        out = self.robot(torch.cat([self.task(task_obs), robot_obs], -1))
        return out[:, : self.action_dim], out[:, -1:]

    def forward_actor(self, features: Tensor) -> Tensor:
        return self(features)[0]

    def forward_critic(self, features: Tensor) -> Tensor:
        return self(features)[1]


class SB3ModularPolicy(MultiInputActorCriticPolicy):
    """An SB3 actor-critic policy for one (robot, task) env of a suite: task module → robot module.

    policy_kwargs:
      suite: "arms" or "grid"; robot, task: the env's pair (ValueError lists the valid names);
      robots_from / tasks_from: directories written by `agents.common.module_files.save_modules`
        (or `SB3ModularPolicy.save_modules`): start from `<dir>/robot/<robot>.pt` / `<dir>/task/<task>.pt`;
      freeze: roles whose module does not learn, e.g. ("task",);
      interface_dim, task_hidden, robot_hidden, init_log_std: sizes of fresh modules (as in
        `ModularPolicy`); a module read from a file keeps its own, and a conflicting explicit
        value is a ValueError. A fresh module's interface width is, in this order, `interface_dim`,
        the width of the other module if that one is read from a file, or the suite's default
        (`agents.rl.interface.default_width`: 2 on arms, 16 on grid). `PPO.load` rebuilds
        from these kwargs: a model saved with another width than they give loads only with
        `custom_objects={"policy_kwargs": {..., "interface_dim": N}}` (the error says N).
    Other kwargs go to SB3 (optimizer_class, optimizer_kwargs, share_features_extractor, ...).
    Modules initialise themselves (CleanRL's orthogonal init), so `ortho_init`, `net_arch`,
    `activation_fn`, `log_std_init` and `use_sde` are not accepted.
    """

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Space, lr_schedule,
                 suite: str = "arms", robot: str = "", task: str = "",
                 robots_from: str | None = None, tasks_from: str | None = None, freeze: tuple[str, ...] = (),
                 interface_dim: int | None = None, task_hidden: tuple[int, ...] | None = None,
                 robot_hidden: tuple[int, ...] | None = None, init_log_std: float = 0.0, **kwargs: Any) -> None:
        for name in ("ortho_init", "net_arch", "activation_fn", "log_std_init", "use_sde", "features_extractor_class"):
            if kwargs.pop(name, None) not in (None, False):
                raise ValueError(f"SB3ModularPolicy does not take {name!r}: its modules define the network "
                                 f"(use interface_dim, task_hidden, robot_hidden, init_log_std)")
        if interface_dim is not None and interface_dim < 1:
            raise ValueError(f"interface_dim must be >= 1, got {interface_dim}")
        self.suite_name, self.robot_name, self.task_name = suite, robot, task
        the_suite = get_suite(suite)
        the_suite.check(robot, task)
        self.spec = SuiteSpec.from_suite(the_suite)
        self.freeze_roles = _check_freeze(freeze)
        self.robots_from, self.tasks_from = robots_from, tasks_from
        self.sizes = {"interface_dim": interface_dim, "task_hidden": task_hidden, "robot_hidden": robot_hidden,
                      "init_log_std": init_log_std}
        _check_spaces(the_suite, robot, task, observation_space, action_space)
        super().__init__(observation_space, action_space, lr_schedule, ortho_init=False,
                         features_extractor_class=PairFeatures,
                         features_extractor_kwargs={"task_width": self.spec.task_width,
                                                    "robot_width": self.spec.robot_width}, **kwargs)

    # -- SB3 extension points ---------------------------------------------------------------

    def _build_mlp_extractor(self) -> None:
        sources = {"task": (self.tasks_from, self.task_name), "robot": (self.robots_from, self.robot_name)}
        modules: dict[str, Module] = {}
        for role in sorted(sources, key=lambda r: sources[r][0] is None):  # from files first: fresh ones fit them
            width = next((m.config["actor_out" if r == "task" else "actor_in"] for r, m in modules.items()), None)
            modules[role] = self._module(role, *sources[role], interface=width)
        task, robot = modules["task"], modules["robot"]
        if robot.config["actor_in"] != task.config["actor_out"]:
            raise ValueError(f"robot module {self.robot_name!r} reads a {robot.config['actor_in']}-wide interface, "
                             f"task module {self.task_name!r} writes {task.config['actor_out']}")
        for role, module in (("task", task), ("robot", robot)):
            if role in self.freeze_roles:
                module.requires_grad_(False)
        self.mlp_extractor = ModulePair(task, robot, self.spec.task_width, self.spec.action_dims[self.robot_name])

    def _build(self, lr_schedule) -> None:
        """SB3's `_build` with pass-through heads: the robot module's outputs are the distribution and value."""
        self._build_mlp_extractor()
        if not isinstance(self.action_dist, (DiagGaussianDistribution, CategoricalDistribution)):
            raise ValueError(f"SB3ModularPolicy supports Box and Discrete actions, got {self.action_space}")
        self.action_net, self.value_net = nn.Identity(), nn.Identity()
        trainable = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = self.optimizer_class(trainable, lr=lr_schedule(1), **self.optimizer_kwargs)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """`nn.Module.load_state_dict`, with a clear error when the saved modules are another interface width."""
        key = next((k for k in state_dict if k.startswith("mlp_extractor.robot.") and k.endswith("input_own")), None)
        if key is not None:
            saved, built = state_dict[key].shape[1], self.mlp_extractor.robot.config["actor_in"]
            if saved != built:
                raise ValueError(f"these weights have a {saved}-wide task→robot interface, this policy was built "
                                 f"{built} wide: add interface_dim={saved} to its policy_kwargs (when loading: "
                                 f"custom_objects={{'policy_kwargs': {{..., 'interface_dim': {saved}}}}})")
        return super().load_state_dict(state_dict, strict, assign)

    @property
    def log_std(self) -> Tensor:
        """The robot module's log standard deviation, cut to the robot's action size (Box actions only)."""
        log_std = self.mlp_extractor.robot.log_std
        if log_std is None:  # AttributeError, so that `hasattr(policy, "log_std")` is False
            raise AttributeError("a discrete robot module has no log_std")
        return log_std[: self.mlp_extractor.action_dim]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for name in ("ortho_init", "net_arch", "activation_fn", "log_std_init", "use_sde", "features_extractor_class",
                     "features_extractor_kwargs", "full_std", "use_expln", "squash_output"):
            data.pop(name, None)
        return data | {"suite": self.suite_name, "robot": self.robot_name, "task": self.task_name,
                       "robots_from": self.robots_from, "tasks_from": self.tasks_from,
                       "freeze": self.freeze_roles, **self.sizes}

    # -- modules ----------------------------------------------------------------------------

    @property
    def modules_by_role(self) -> dict[str, tuple[str, Module]]:
        """role → (name, module): ("robot", (robot name, robot module)), ("task", ...)."""
        return {"robot": (self.robot_name, self.mlp_extractor.robot), "task": (self.task_name, self.mlp_extractor.task)}

    def save_modules(self, directory: str | Path) -> list[Path]:
        """`directory/robot/<Robot>.pt` and `directory/task/<Task>.pt`, the files `ModularPolicy` reads too."""
        return save_modules({role: {name: module} for role, (name, module) in self.modules_by_role.items()},
                            directory, self.suite_name)

    def _module(self, role: str, directory: str | None, name: str, interface: int | None = None) -> Module:
        """`role`'s module from `directory`, or a fresh one (with an `interface` this wide, if given)."""
        fresh = self._fresh_config(role, interface)
        if directory is None:
            return build_module("actor_critic", **fresh)
        path = module_path(directory, role, name)
        module = load_module_file(directory, role, name, self.suite_name)
        config = module.config
        if module.kind != "actor_critic":
            raise ValueError(f"{path} holds a {module.kind!r} module, expected 'actor_critic'")
        if role == "robot" and robot_coupling(config, self.spec) == "affine":
            raise ValueError(f"{path} is a robot module of the affine coupling (--interface.coupling affine); "
                             f"the SB3 policy reads concat-coupled modules only")
        for key in ("actor_in", "critic_in", "shared_in", "actor_out", "critic_out", "final_activation", "log_std"):
            if config[key] != fresh[key] and key not in self._size_keys(role):
                raise ValueError(f"{path} does not fit suite {self.suite_name!r}: {key}={config[key]}, "
                                 f"expected {fresh[key]}")
        for key, value in self._explicit_sizes(role).items():
            if config[key] != value:
                raise ValueError(f"{path} has {key}={config[key]}, but the policy kwargs ask for {value}")
        return module

    def _fresh_config(self, role: str, interface: int | None = None) -> dict[str, Any]:
        """A module config identical to `ModularPolicy`'s, so the files are interchangeable. Interface width:
        the explicit kwarg, else `interface` (the other module's, read from its file), else the suite's default."""
        spec, sizes = self.spec, self.sizes
        interface = next(w for w in (sizes["interface_dim"], interface, default_width(self.suite_name))
                         if w is not None)
        if role == "task":
            return dict(actor_in=0, critic_in=0, shared_in=spec.task_width, actor_out=interface, critic_out=interface,
                        hidden=[int(h) for h in sizes["task_hidden"] or TASK_HIDDEN], activation="tanh",
                        final_activation=True, log_std=False, init_log_std=0.0)
        return dict(actor_in=interface, critic_in=interface, shared_in=spec.robot_width, actor_out=spec.action_width,
                    critic_out=1, hidden=[int(h) for h in sizes["robot_hidden"] or ROBOT_HIDDEN], activation="tanh",
                    final_activation=False, log_std=not spec.discrete, init_log_std=float(sizes["init_log_std"]))

    @staticmethod
    def _size_keys(role: str) -> tuple[str, ...]:
        return ("actor_out", "critic_out") if role == "task" else ("actor_in", "critic_in")

    def _explicit_sizes(self, role: str) -> dict[str, Any]:
        sizes, out = self.sizes, {}
        if sizes["interface_dim"] is not None:
            out |= {k: sizes["interface_dim"] for k in self._size_keys(role)}
        hidden = sizes["task_hidden" if role == "task" else "robot_hidden"]
        if hidden is not None:
            out["hidden"] = [int(h) for h in hidden]
        return out


def _check_freeze(freeze) -> tuple[str, ...]:
    roles = (freeze,) if isinstance(freeze, str) else tuple(freeze)
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ValueError(f"cannot freeze {bad}; valid roles: {list(ROLES)}")
    return roles


def _check_spaces(suite, robot: str, task: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    if not isinstance(observation_space, spaces.Dict) or set(observation_space.spaces) != {"robot", "task"}:
        raise ValueError(f"SB3ModularPolicy needs a Dict(robot, task) observation space, got {observation_space}")
    want = {"robot": suite.robot_obs_dim(robot), "task": suite.task_obs_dim(task)}
    for key, size in want.items():
        got = int(torch.tensor(observation_space[key].shape).prod())
        if got != size:
            raise ValueError(f"obs[{key!r}] has {got} entries, but {key} {robot if key == 'robot' else task!r} of "
                             f"suite {suite.name!r} has {size}: is the env {suite.env_id(robot, task)}?")
    if action_space != suite.action_space(robot):
        raise ValueError(f"action space {action_space} is not robot {robot!r}'s {suite.action_space(robot)}")
