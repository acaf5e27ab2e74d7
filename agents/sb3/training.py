"""Running stable-baselines3 under modrl's settings: the suites' native vector envs as an SB3
`VecEnv`, and a `PPOConfig` as SB3 `PPO` arguments (so both libraries train alike)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from agents.rl.ppo import PPOConfig


class NativeVecEnv(VecEnv):
    """A gymnasium vector env with SAME_STEP autoreset seen as an SB3 `VecEnv` (Dict observations).

    Infos come in SB3's format, one dict per env: the env's own keys (`is_success`, `distance`), and
    where an episode ended its last info with `terminal_observation` and `TimeLimit.truncated` (the
    new episode's first info goes to `reset_infos`). Wrap it in
    `VecMonitor(env, info_keywords=("is_success",))` for `rollout/ep_rew_mean`, `ep_len_mean` and
    `success_rate`. `render()` tiles the env's frames when it was made with `render_mode="rgb_array"`.
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        self.env = env
        self._actions: np.ndarray | None = None
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        if "render_fps" in env.metadata:
            self.metadata["render_fps"] = env.metadata["render_fps"]

    def reset(self) -> VecEnvObs:
        seed = self._seeds[0]
        obs, info = self.env.reset(seed=seed)
        self.reset_infos = _per_env(info, self.num_envs)
        self._reset_seeds()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        dones = terminated | truncated
        infos = _per_env(info, self.num_envs)
        if dones.any():
            final = _per_env(info["final_info"], self.num_envs)
            for i in np.flatnonzero(dones):
                self.reset_infos[i] = infos[i]
                infos[i] = final[i] | {"terminal_observation": info["final_obs"][i],
                                       "TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
        return obs, reward.astype(np.float32), dones, infos

    def get_images(self) -> list[np.ndarray | None]:
        frames = self.env.render()
        return [None] * self.num_envs if frames is None else list(frames)

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name in ("render_mode", "metadata"):
            return [getattr(self.env, attr_name)] * len(list(self._get_indices(indices)))
        raise AttributeError(attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(attr_name)

    def env_method(self, method_name: str, *args, indices: VecEnvIndices = None, **kwargs) -> list[Any]:
        raise AttributeError(method_name)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))


def _per_env(info: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """A gymnasium vector info (arrays with `_key` masks, nested dicts) as one dict per env."""
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in info.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        if isinstance(value, dict):
            for i, sub in enumerate(_per_env(value, num_envs)):
                if sub:
                    out[i][key] = sub
            continue
        scalars = isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype != object
        values = value.tolist() if scalars else value  # numpy scalars as Python ones
        for i in np.flatnonzero(info.get(f"_{key}", np.ones(num_envs, dtype=bool))):
            out[i][key] = values[i]
    return out


def sb3_ppo_kwargs(config: PPOConfig) -> dict[str, Any]:
    """SB3 `PPO(...)` keyword arguments for `config`: the same rollout length, minibatch size, epochs,
    learning rate (annealed linearly to 0 if `anneal_lr`), discount, GAE, clipping (of the value too if
    `clip_vloss`), loss coefficients, gradient clip and seed.

    Where SB3 differs: with `target_kl` it stops an update before the minibatch whose approximate KL
    passes 1.5 × target_kl (modrl: after an epoch whose mean KL passes target_kl), and its annealing
    starts one update lower. `compile` has no SB3 counterpart (ValueError); `checkpoint_every` is modrl's."""
    if config.compile:
        raise ValueError("compile is modrl's; SB3 trains eagerly")
    if (config.num_envs * config.num_steps) % config.num_minibatches:
        raise ValueError(f"num_envs * num_steps = {config.num_envs * config.num_steps} does not split into "
                         f"{config.num_minibatches} minibatches")
    lr = config.learning_rate
    return dict(learning_rate=(lambda remaining: remaining * lr) if config.anneal_lr else lr,
                n_steps=config.num_steps, batch_size=config.num_envs * config.num_steps // config.num_minibatches,
                n_epochs=config.update_epochs, gamma=config.gamma, gae_lambda=config.gae_lambda,
                clip_range=config.clip_coef, clip_range_vf=config.clip_coef if config.clip_vloss else None,
                normalize_advantage=config.norm_adv, ent_coef=config.ent_coef, vf_coef=config.vf_coef,
                max_grad_norm=config.max_grad_norm, target_kl=config.target_kl, seed=config.seed, device="cpu")
