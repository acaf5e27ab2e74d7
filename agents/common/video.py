"""Videos of a policy on (robot, task) pairs: one episode per pair through gymnasium's `RecordVideo`.

Needs moviepy (`pip install 'modrl[video]'`); `video_available()` says whether it is there.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers import RecordVideo

from agents.common.contract import ActorCriticPolicy
from agents.common.multipair import _padded
from agents.common.spec import ObsBatch

MISSING_MOVIEPY = "video capture needs moviepy: pip install 'modrl[video]'"


def video_available() -> bool:
    """Whether moviepy, which `RecordVideo` writes with, is installed."""
    return importlib.util.find_spec("moviepy") is not None


def video_name(robot: str, task: str, held_out: bool = False) -> str:
    """A pair's file stem: `Robot-Task`, or `Robot-Task-heldout`."""
    return f"{robot}-{task}" + ("-heldout" if held_out else "")


@torch.no_grad()
def record_pairs(policy: ActorCriticPolicy, suite, pairs: Sequence[tuple[str, str]], directory: str | Path,
                 held_out: Collection[tuple[str, str]] = (), seed: int = 0,
                 sample: bool = True) -> tuple[list[Path], Path]:
    """Record one episode of `policy` on each pair; the video files (in pair order) and a PNG frame.

    Each pair runs `gym.make(id, render_mode="rgb_array")` reset with `seed`, under `RecordVideo`:
    `directory/<Robot>-<Task>[-heldout]-episode-0.mp4`, "-heldout" for pairs in `held_out`. Actions
    are sampled (`sample`, from the torch RNG seeded with `seed`; the global RNG is restored) or the
    policy's most likely ones. The PNG, `<stem>.png`, is the last frame of the first held-out pair's
    episode (of the first pair if none is held out). Raises ModuleNotFoundError without moviepy.
    """
    if not video_available():
        raise ModuleNotFoundError(MISSING_MOVIEPY)
    if not pairs:
        raise ValueError("record_pairs needs at least one (robot, task) pair")
    directory = Path(directory)
    held = {tuple(p) for p in held_out}
    pictured = next((tuple(p) for p in pairs if tuple(p) in held), tuple(pairs[0]))
    was_training = policy.training
    policy.eval()
    videos, frame = [], None
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for robot, task in pairs:
            name = video_name(robot, task, (robot, task) in held)
            last = _record_episode(policy, suite, robot, task, directory, name, seed, sample)
            videos.append(directory / f"{name}-episode-0.mp4")
            if (robot, task) == pictured:
                frame = directory / f"{name}.png"
                _save_png(last, frame)
    policy.train(was_training)
    return videos, frame


def _record_episode(policy: ActorCriticPolicy, suite, robot: str, task: str, directory: Path, name: str,
                    seed: int, sample: bool) -> np.ndarray:
    """Run and record one episode; its last frame."""
    spec = policy.spec
    with warnings.catch_warnings():  # every pair shares the folder, under its own file name
        warnings.filterwarnings("ignore", message=".*Overwriting existing videos")
        env = RecordVideo(gym.make(suite.env_id(robot, task), render_mode="rgb_array"), str(directory),
                          episode_trigger=lambda episode: episode == 0, name_prefix=name)
    robot_id, task_id = torch.tensor([spec.robot_id(robot)]), torch.tensor([spec.task_id(task)])
    try:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            batch = ObsBatch(_padded([obs["robot"][None]], spec.robot_width),
                             _padded([obs["task"][None]], spec.task_width), robot_id, task_id)
            dist = policy.distribution(batch, {})
            action = (dist.sample() if sample else dist.mode())[0]
            action = int(action) if spec.discrete else action[: spec.action_dims[robot]].clamp(-1, 1).numpy()
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        return env.render()
    finally:
        env.close()


def _save_png(frame: np.ndarray, path: Path) -> None:
    from PIL import Image  # pillow comes with matplotlib

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(path)
