"""Arms rendering (rgb_array frames, single and vector), seeding a vector env per copy, and videos of a
policy per pair (`agents.common.video`, `scripts/zero_shot.py --capture-video`)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import ARMS, ARMS6
from envs.arms import RENDER_FPS, RENDER_SIZE, ArmEnv, ArmVectorEnv

FRAME = (RENDER_SIZE, RENDER_SIZE, 3)


@pytest.mark.parametrize("suite,robot,task", [(s, r, t) for s in (ARMS, ARMS6) for r, t in s.pairs()],
                         ids=[s.env_id(r, t) for s in (ARMS, ARMS6) for r, t in s.pairs()])
def test_render_gives_a_frame_that_follows_the_state(suite, robot, task):
    env = gym.make(suite.env_id(robot, task), render_mode="rgb_array")
    assert env.metadata["render_fps"] == RENDER_FPS and env.render_mode == "rgb_array"
    env.reset(seed=0)
    first = env.render()
    assert first.shape == FRAME and first.dtype == np.uint8
    env.step(np.ones(env.action_space.shape, np.float32))
    assert not np.array_equal(first, env.render())  # the arm moved
    env.reset(seed=1)
    assert not np.array_equal(first, env.render())  # another start


@pytest.mark.parametrize("env_id", [ARMS.env_id("Arm3", "Push"), ARMS6.env_id("Arm3Accel", "Track"),
                                    ARMS6.env_id("Arm5", "Avoid")])
def test_check_env_with_render_modes(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bad frame warns in gymnasium's checker
        check_env(env.unwrapped)  # makes the env again with every declared render mode


def test_render_without_mode_warns_and_bad_mode_is_refused():
    env = ArmEnv("Arm2", "ReachRed")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render mode"):
        assert env.render() is None
    with pytest.raises(ValueError, match="rgb_array"):
        ArmEnv("Arm2", "ReachRed", render_mode="human")
    with pytest.raises(ValueError, match="rgb_array"):
        ArmVectorEnv(2, "Arm2", "ReachRed", render_mode="depth_array")


def test_vector_render_gives_one_frame_per_copy():
    vec = gym.make_vec(ARMS.env_id("Arm4", "ReachBlue"), num_envs=3, render_mode="rgb_array")
    assert vec.render_mode == "rgb_array" and vec.metadata["render_fps"] == RENDER_FPS
    vec.reset(seed=4)
    frames = vec.render()
    assert isinstance(frames, tuple) and len(frames) == 3
    assert all(f.shape == FRAME and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])
    single = ArmEnv("Arm4", "ReachBlue", render_mode="rgb_array")
    single.reset(seed=7)
    vec.reset(seed=[5, 7, 6])
    np.testing.assert_array_equal(vec.render()[1], single.render())


def test_vector_reset_takes_one_seed_per_copy():
    env_id = ARMS.env_id("Arm3", "ReachRed")
    seeds = [1, 2, 3]
    vec = gym.make_vec(env_id, num_envs=3)
    obs, info = vec.reset(seed=seeds)
    for i, seed in enumerate(seeds):  # copy i starts as the single env reset with seed i
        single_obs, single_info = gym.make(env_id).reset(seed=seed)
        for key in obs:
            np.testing.assert_array_equal(obs[key][i], single_obs[key])
        assert info["distance"][i] == single_info["distance"]
    # the same list replays the same run, autoresets included
    again = gym.make_vec(env_id, num_envs=3)
    again.reset(seed=seeds)
    actions = np.random.default_rng(0).uniform(-1, 1, (120, 3, 3)).astype(np.float32)
    for action in actions:
        a, b = vec.step(action), again.step(action)
        for key in a[0]:
            np.testing.assert_array_equal(a[0][key], b[0][key])
        np.testing.assert_array_equal(a[1], b[1])
    # None leaves a copy unseeded; a list of the wrong length is refused
    obs, _ = vec.reset(seed=[1, None, 3])
    np.testing.assert_array_equal(obs["robot"][0], gym.make(env_id).reset(seed=1)[0]["robot"])
    with pytest.raises(ValueError, match="one per copy"):
        vec.reset(seed=[1, 2])


# ---- videos of a policy, one per pair ----

def _untrained_policy():
    from agents.common.spec import SuiteSpec
    from agents.rl.policies import ModularPolicy

    return ModularPolicy(SuiteSpec.from_suite(ARMS))


def test_record_pairs_writes_one_video_per_pair_and_a_frame(tmp_path):
    pytest.importorskip("moviepy", reason="video capture needs moviepy: pip install 'modrl[video]'")
    from agents.common.video import record_pairs

    pairs = [("Arm2", "ReachRed"), ("Arm3", "Push")]
    videos, frame = record_pairs(_untrained_policy(), ARMS, pairs, tmp_path, held_out=[("Arm3", "Push")],
                                 sample=False)
    assert [v.name for v in videos] == ["Arm2-ReachRed-episode-0.mp4", "Arm3-Push-heldout-episode-0.mp4"]
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == sorted(v.name for v in videos)
    assert all(v.stat().st_size > 0 for v in videos)
    assert frame == tmp_path / "Arm3-Push-heldout.png" and frame.stat().st_size > 0


def test_zero_shot_capture_video(tmp_path, script, monkeypatch, capsys):
    pytest.importorskip("moviepy", reason="video capture needs moviepy: pip install 'modrl[video]'")
    from agents.common.module_files import save_modules

    save_modules(_untrained_policy(), tmp_path / "modules", "arms")
    zero_shot = script("zero_shot")
    videos = tmp_path / "videos"
    args = ["--modules", str(tmp_path / "modules"), "--pairs", "Arm2:ReachBlue", "Arm4:ReachRed",
            "--episodes", "2", "--capture-video", str(videos)]
    zero_shot.run_cli(zero_shot.main, zero_shot.ZeroShotArgs, args)
    assert sorted(p.name for p in videos.iterdir()) == [
        "Arm2-ReachBlue-episode-0.mp4", "Arm2-ReachBlue.png", "Arm4-ReachRed-episode-0.mp4"]
    monkeypatch.setattr(zero_shot, "video_available", lambda: False)
    with pytest.raises(SystemExit):
        zero_shot.run_cli(zero_shot.main, zero_shot.ZeroShotArgs, args)
    assert "pip install 'modrl[video]'" in capsys.readouterr().err
