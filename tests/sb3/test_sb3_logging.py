"""`NativeVecEnv` speaks SB3's info format: episode statistics, success rates, rendering, video,
the progress bar and `scripts/new_robot.py`'s TensorBoard charts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.vec_env import VecMonitor, VecVideoRecorder

import envs
from agents.common.module_files import save_modules
from agents.common.spec import SuiteSpec
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPOConfig
from agents.sb3 import SB3ModularPolicy
from agents.sb3.training import NativeVecEnv

ROBOT, TASK = "Arm2", "ReachRed"
ENV_ID = envs.ARMS.env_id(ROBOT, TASK)
STEPS = envs.arms.MAX_EPISODE_STEPS[TASK]


class Capture(KVWriter):
    """Keeps every dump of the SB3 logger."""

    def __init__(self) -> None:
        self.dumps: list[dict] = []

    def write(self, key_values, key_excluded, step=0) -> None:
        self.dumps.append(dict(key_values))


def native(num_envs: int = 2, suite=envs.ARMS, robot: str = ROBOT, task: str = TASK, **kwargs) -> NativeVecEnv:
    return NativeVecEnv(gym.make_vec(suite.env_id(robot, task), num_envs, **kwargs) if suite is envs.ARMS
                        else suite.make(robot, task, num_envs))


def test_infos_in_sb3_format():
    vec = native(2)
    vec.seed(0)
    vec.reset()
    assert [set(i) for i in vec.reset_infos] == [{"is_success", "distance", "ee_move"}] * 2
    idle = np.zeros((2, 2), np.float32)
    for t in range(1, STEPS + 1):
        obs, _, dones, infos = vec.step(idle)
        assert all(isinstance(i["is_success"], bool) and isinstance(i["distance"], float) for i in infos)
        assert all(i["ee_move"].shape == (2,) and not i["ee_move"].any() for i in infos)  # idle: no move
        assert dones.all() == (t == STEPS)
    for info in infos:  # the time limit ended both episodes
        assert info["TimeLimit.truncated"] and not info["is_success"]
        assert set(info["terminal_observation"]) == {"robot", "task"}
        assert not np.array_equal(info["terminal_observation"]["task"], obs["task"][0])  # obs is the reset one


def test_infos_of_a_gymnasium_sync_vector_env():
    vec = VecMonitor(native(2, envs.GRID, "Ego", "Goal"), info_keywords=("is_success",))
    vec.reset()
    turn = envs.grid.ROBOTS["Ego"].index("left")
    for _ in range(envs.grid.MAX_EPISODE_STEPS["Goal"]):
        _, _, dones, infos = vec.step(np.full(2, turn))
    assert dones.all()
    assert all(i["TimeLimit.truncated"] and i["episode"]["is_success"] is False for i in infos)


@pytest.mark.filterwarnings("ignore::tqdm.TqdmExperimentalWarning")  # SB3's rich progress bar
def test_ppo_logs_episode_statistics_and_success_rate():
    vec = VecMonitor(native(2), info_keywords=("is_success",))
    model = PPO(SB3ModularPolicy, vec, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu",
                policy_kwargs=dict(suite="arms", robot=ROBOT, task=TASK))
    capture = Capture()
    model.set_logger(Logger(folder=None, output_formats=[capture]))
    model.learn(128, progress_bar=True)  # one rollout of 2 x 64 steps: each env ends an episode
    assert len(model.ep_info_buffer) >= 2 and len(model.ep_success_buffer) >= 2
    assert {"r", "l", "is_success"} <= set(model.ep_info_buffer[0])
    logged = capture.dumps[0]
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/success_rate"} <= set(logged)
    assert 0 < logged["rollout/ep_len_mean"] <= STEPS


def test_render_and_video_recorder(tmp_path):
    vec = native(2, render_mode="rgb_array")
    assert vec.render_mode == "rgb_array" and vec.metadata["render_fps"] == envs.arms.RENDER_FPS
    vec.reset()
    tiled = vec.render()  # SB3 tiles the envs' frames
    assert tiled.dtype == np.uint8 and tiled.shape[2] == 3 and tiled.size == 2 * 3 * envs.arms.RENDER_SIZE ** 2
    assert native(2).render_mode is None
    pytest.importorskip("moviepy", reason="video capture needs moviepy: pip install 'modrl[video]'")
    recorder = VecVideoRecorder(vec, str(tmp_path), record_video_trigger=lambda step: step == 0, video_length=5)
    recorder.reset()
    for _ in range(6):
        recorder.step(np.zeros((2, 2), np.float32))
    recorder.close()
    assert len(list(tmp_path.glob("*.mp4"))) == 1


def test_new_robot_writes_tensorboard_charts(tmp_path, script):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = SuiteSpec.from_suite(envs.ARMS)
    modules = save_modules(ModularPolicy(spec, InterfaceConfig(width=2)), tmp_path / "run", "arms")[0].parents[1]
    new_robot = script("new_robot")
    args = new_robot.NewRobotArgs(modules=modules, robot="Arm4", task="ReachRed", eval_tasks=("ReachRed",),
                                  episodes=1, out=tmp_path / "out",
                                  ppo=PPOConfig(total_timesteps=2 * 64, num_envs=2, num_steps=64, num_minibatches=1,
                                                update_epochs=1))
    new_robot.main(args)
    runs = list((tmp_path / "out" / "tensorboard").iterdir())
    assert [r.name for r in runs] == ["seed1_1"]
    events = EventAccumulator(str(runs[0]))
    events.Reload()
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/success_rate"} <= set(events.Tags()["scalars"])
