"""Planar arms x tasks, after Devin et al. (2017), natively batched in numpy.

One `ArmCore` holds the state of N copies of a (robot, task) pair and steps
them all at once. `ArmEnv` is the single gymnasium env (N=1) and
`ArmVectorEnv` the native vector env (any N, SAME_STEP autoreset); both run
the same numpy code, so a seeded `ArmVectorEnv(num_envs=1)` and `ArmEnv`
produce the same trajectories.

All positions are in units of the arm's reach (links are rescaled to sum to
1, base at the origin), so a task module sees the same geometry whatever the
arm. They are observed in the base frame (x along the first link), so a policy
need not learn every task again at every orientation: the suite is rotation
invariant, and the base angle itself is not observed.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

# Link lengths per robot (only their ratios matter: they are rescaled to reach 1).
ROBOTS: dict[str, tuple[float, ...]] = {
    "Arm2": (1.0, 0.8),
    "Arm3": (0.6, 0.5, 0.4),
    "Arm3Long": (1.0, 0.7, 0.5),
    "Arm4": (0.5, 0.4, 0.3, 0.3),
}
TASKS: tuple[str, ...] = ("ReachRed", "ReachBlue", "Push")
MAX_EPISODE_STEPS: dict[str, int] = {"ReachRed": 50, "ReachBlue": 50, "Push": 100}

DT = 0.05  # seconds per step
MAX_JOINT_SPEED = 3.0  # rad/s at |action| = 1
JOINT_LIMIT = 2.5  # rad, for every joint but the base, which turns freely
SUCCESS_DISTANCE = 0.1  # success threshold, in reach units
SUCCESS_BONUS = 1.0
SHAPING_SCALE = 10.0  # reward per reach unit of progress (potential-based shaping)
TIME_COST = 0.01  # per step, so lingering near the target is not free
EE_RADIUS = 0.04  # end-effector disc, reach units
CONTACT_SUBSTEPS = 4  # contact checks per step when pushing
BLOCK_RADIUS = 0.06  # block disc, reach units
PUSH_START_BEND = 0.3  # rad: a Push episode starts with the arm nearly straight, out beyond the block
TASK_OBS_DIM = 6  # [ee_xy, object0_xy - ee_xy, object1_xy - ee_xy], in the base frame
TASK_OBS_BOUND = 3.0  # relative positions span up to twice the (pushed-past) reach
RENDER_SIZE = 256  # rgb_array frames are RENDER_SIZE x RENDER_SIZE pixels
RENDER_VIEW = 1.2  # half-width of the rendered square, reach units (base at the centre)
RENDER_FPS = round(1 / DT)


def robot_obs_dim(robot: str) -> int:
    """cos q, sin q and q / limit for each joint but the base (the base angle only turns the frame)."""
    return 3 * (len(ROBOTS[robot]) - 1)


def action_space(robot: str) -> spaces.Box:
    """Joint velocities in [-1, 1], scaled by MAX_JOINT_SPEED."""
    return spaces.Box(-1.0, 1.0, (len(ROBOTS[robot]),), np.float32)


def observation_space(robot: str) -> spaces.Dict:
    """The single-env Dict(robot, task) observation space."""
    n = robot_obs_dim(robot)
    return spaces.Dict(
        {
            "robot": spaces.Box(-1.0, 1.0, (n,), np.float32),
            "task": spaces.Box(-TASK_OBS_BOUND, TASK_OBS_BOUND, (TASK_OBS_DIM,), np.float32),
        }
    )


def check_names(robot: str, task: str) -> None:
    """Raise ValueError listing valid names if robot or task is unknown."""
    if robot not in ROBOTS:
        raise ValueError(f"unknown arms robot {robot!r}; valid robots: {sorted(ROBOTS)}")
    if task not in TASKS:
        raise ValueError(f"unknown arms task {task!r}; valid tasks: {list(TASKS)}")


def _links(robot: str) -> np.ndarray:
    links = np.asarray(ROBOTS[robot], dtype=np.float64)
    return links / links.sum()


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _annulus(rng: np.random.Generator, k: int, lo: float, hi: float) -> np.ndarray:
    """k points uniform in radius and angle within lo <= r <= hi, shape (k, 2)."""
    r = rng.uniform(lo, hi, k)
    th = rng.uniform(-np.pi, np.pi, k)
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=-1)


def forward_kinematics(links: np.ndarray, q: np.ndarray) -> np.ndarray:
    """End-effector xy for joint angles q of shape (..., n)."""
    cum = np.cumsum(q, axis=-1)
    return np.stack([(links * np.cos(cum)).sum(-1), (links * np.sin(cum)).sum(-1)], axis=-1)


def jacobian(links: np.ndarray, q: np.ndarray) -> np.ndarray:
    """d(ee_xy)/dq, shape (..., 2, n)."""
    cum = np.cumsum(q, axis=-1)
    # Joint i moves every link j >= i: reverse cumulative sums.
    dx = -np.flip(np.cumsum(np.flip(links * np.sin(cum), -1), -1), -1)
    dy = np.flip(np.cumsum(np.flip(links * np.cos(cum), -1), -1), -1)
    return np.stack([dx, dy], axis=-2)


_BACKGROUND = (246, 246, 242)
_COLOURS = {"reach": (205, 205, 200), "link": (60, 70, 90), "joint": (160, 165, 175), "base": (25, 25, 30),
            "ee": (240, 175, 0), "red": (215, 45, 45), "blue": (45, 90, 215), "block": (190, 120, 40),
            "goal": (40, 160, 80)}


class _Canvas:
    """A float RGB image in world coordinates (reach units, y up), painted with anti-aliased shapes."""

    def __init__(self, size: int, image: np.ndarray | None = None) -> None:
        self.size, self.scale = size, size / (2 * RENDER_VIEW)
        self.image = np.full((size, size, 3), _BACKGROUND, np.float32) if image is None else image.copy()

    def _px(self, p: np.ndarray) -> np.ndarray:
        return np.array([(p[0] + RENDER_VIEW) * self.scale, (RENDER_VIEW - p[1]) * self.scale])

    def capsule(self, a: np.ndarray, b: np.ndarray, radius: float, colour: str, alpha: float = 1.0,
                ring: float | None = None) -> None:
        """Everything within `radius` of segment ab (a disc when a == b); with `ring`, only a band of
        that width at distance `radius`."""
        a, b = self._px(a), self._px(b)
        r = radius * self.scale
        lo = np.clip(np.floor(np.minimum(a, b) - r - 2), 0, self.size).astype(int)
        hi = np.clip(np.ceil(np.maximum(a, b) + r + 2), 0, self.size).astype(int)
        if (hi <= lo).any():
            return
        x = np.arange(lo[0], hi[0])[None, :] + 0.5
        y = np.arange(lo[1], hi[1])[:, None] + 0.5
        ab = b - a
        t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
        d = np.hypot(x - a[0] - t * ab[0], y - a[1] - t * ab[1])
        edge = r - d if ring is None else 0.5 * ring * self.scale - np.abs(d - r)
        cover = np.clip(edge + 0.5, 0.0, 1.0)[..., None] * alpha  # pixel coverage, anti-aliased
        region = self.image[lo[1]:hi[1], lo[0]:hi[0]]
        region += cover * (np.asarray(_COLOURS[colour], np.float32) - region)

    def disc(self, centre: np.ndarray, radius: float, colour: str, alpha: float = 1.0) -> None:
        self.capsule(centre, centre, radius, colour, alpha)

    def frame(self) -> np.ndarray:
        return np.round(self.image).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _backdrop(size: int) -> np.ndarray:
    """The background with the reach circle, drawn once per size."""
    canvas = _Canvas(size)
    canvas.capsule(np.zeros(2), np.zeros(2), 1.0, "reach", ring=0.008)
    canvas.image.setflags(write=False)
    return canvas.image


def draw_arm(links: np.ndarray, q: np.ndarray, objects: np.ndarray, task: str, size: int = RENDER_SIZE) -> np.ndarray:
    """An RGB frame (size x size x 3, uint8) of one arm in the world frame, base at the centre.

    The reach circle in grey; reach tasks: red and blue targets, the aimed one with its success zone;
    Push: the goal's success zone in green and the block in brown; links, joints, base, and the end
    effector in gold. Drawn in numpy alone.
    """
    canvas = _Canvas(size, _backdrop(size))
    origin = np.zeros(2)
    if task == "Push":
        canvas.disc(objects[1], SUCCESS_DISTANCE, "goal", alpha=0.3)
        canvas.capsule(objects[1], objects[1], SUCCESS_DISTANCE, "goal", ring=0.01)
        canvas.disc(objects[0], BLOCK_RADIUS, "block")
    else:
        aimed = 0 if task == "ReachRed" else 1
        for i, colour in enumerate(("red", "blue")):
            if i == aimed:
                canvas.disc(objects[i], SUCCESS_DISTANCE, colour, alpha=0.25)
            canvas.disc(objects[i], 0.035, colour)
    cum = np.cumsum(q)
    joints = np.concatenate([origin[None], np.cumsum(links[:, None] * np.stack([np.cos(cum), np.sin(cum)], -1), 0)])
    for a, b in zip(joints[:-1], joints[1:]):
        canvas.capsule(a, b, 0.022, "link")
    for joint in joints[1:-1]:
        canvas.disc(joint, 0.03, "joint")
    canvas.disc(origin, 0.055, "base")
    canvas.disc(joints[-1], EE_RADIUS, "ee")
    return canvas.frame()


class ArmCore:
    """State and physics of N copies of one (robot, task) pair."""

    def __init__(self, robot: str, task: str, num_envs: int) -> None:
        check_names(robot, task)
        self.robot, self.task, self.num_envs = robot, task, num_envs
        self.links = _links(robot)
        n = len(self.links)
        self.limits = np.full(n, JOINT_LIMIT)
        self.limits[0] = np.pi
        self.q = np.zeros((num_envs, n))
        self.ee = forward_kinematics(self.links, self.q)
        # objects[:, 0] and [:, 1]: red and blue targets, or block and goal.
        self.objects = np.zeros((num_envs, 2, 2))
        self.potential = np.zeros(num_envs)

    def reset(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        """Resample the state of the copies where mask is True."""
        k = int(mask.sum())
        if k == 0:
            return
        n = len(self.links)
        bend = PUSH_START_BEND if self.task == "Push" else 1.0
        q = rng.uniform(-bend, bend, (k, n))
        q[:, 0] = rng.uniform(-np.pi, np.pi, k)
        self.q[mask] = q
        self.ee[mask] = forward_kinematics(self.links, q)
        if self.task == "Push":
            self.objects[mask] = self._sample_push(rng, k)
        else:
            red = _annulus(rng, k, 0.3, 0.85)
            # Blue at least 60 degrees away from red, so the two are >= 0.3 apart.
            r = rng.uniform(0.3, 0.85, k)
            th = np.arctan2(red[:, 1], red[:, 0]) + rng.uniform(np.pi / 3, 5 * np.pi / 3, k)
            blue = np.stack([r * np.cos(th), r * np.sin(th)], axis=-1)
            self.objects[mask] = np.stack([red, blue], axis=1)
        self.potential[mask] = self._measure()[1][mask]

    @staticmethod
    def _sample_push(rng: np.random.Generator, k: int) -> np.ndarray:
        """Block in radius [0.45, 0.7]; goal 0.15-0.25 from it toward the base (within 45 degrees
        of straight in), so the pushing spot faces the arm, which starts further out."""
        block = _annulus(rng, k, 0.45, 0.7)
        inward = np.arctan2(-block[:, 1], -block[:, 0]) + rng.uniform(-np.pi / 4, np.pi / 4, k)
        reach = rng.uniform(0.15, 0.25, k)
        goal = block + reach[:, None] * np.stack([np.cos(inward), np.sin(inward)], axis=-1)
        return np.stack([block, goal], axis=1)

    def step(self, action: np.ndarray) -> None:
        """Integrate joint velocities for one step, then resolve contacts."""
        a = np.asarray(action, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"actions must be finite, got {a[~np.isfinite(a).all(axis=-1)][:3].tolist()} "
                             "(a policy that diverged?)")
        a = np.clip(a, -1.0, 1.0)
        q = self.q + a * (MAX_JOINT_SPEED * DT)
        q[:, 0] = _wrap(q[:, 0])
        q[:, 1:] = np.clip(q[:, 1:], -JOINT_LIMIT, JOINT_LIMIT)
        if self.task == "Push":
            # Sub-steps so a fast end effector cannot jump over the block.
            delta = _wrap(q - self.q)
            for frac in np.arange(1, CONTACT_SUBSTEPS + 1) / CONTACT_SUBSTEPS:
                self._push_block(forward_kinematics(self.links, self.q + frac * delta))
        self.q = q
        self.ee = forward_kinematics(self.links, q)

    def _push_block(self, ee: np.ndarray) -> None:
        """The end-effector disc pushes the block disc out of overlap."""
        rel = self.objects[:, 0] - ee
        dist = np.linalg.norm(rel, axis=-1, keepdims=True)
        contact = EE_RADIUS + BLOCK_RADIUS
        pushed = ee + rel / np.maximum(dist, 1e-9) * contact
        self.objects[:, 0] = np.where(dist < contact, pushed, self.objects[:, 0])

    def _measure(self) -> tuple[np.ndarray, np.ndarray]:
        """Task distance and the shaping potential Φ (minus distances to go) of every copy."""
        if self.task == "Push":
            block, goal = self.objects[:, 0], self.objects[:, 1]
            distance = np.linalg.norm(block - goal, axis=-1)
            # The pushing spot: just behind the block, on the far side from the goal.
            away = (block - goal) / np.maximum(distance, 1e-9)[:, None]
            spot = block + away * (EE_RADIUS + BLOCK_RADIUS)
            approach = np.linalg.norm(self.ee - spot, axis=-1)
            return distance, -2.0 * distance - 0.5 * approach
        target = self.objects[:, 0 if self.task == "ReachRed" else 1]
        distance = np.linalg.norm(self.ee - target, axis=-1)
        return distance, -distance

    def evaluate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reward, success and task distance (reach units) of every copy.

        Reward = SHAPING_SCALE · (Φ(s') − Φ(s)) − TIME_COST + SUCCESS_BONUS · success: progress
        toward the goal since the last call, so a second call without a step gives no progress.
        """
        distance, potential = self._measure()
        progress = potential - self.potential
        self.potential = potential
        success = distance < SUCCESS_DISTANCE
        return SHAPING_SCALE * progress - TIME_COST + SUCCESS_BONUS * success, success, distance

    def obs(self) -> dict[str, np.ndarray]:
        """Batched Dict observation in the base frame (rotated by minus the base angle), float32."""
        joints = self.q[:, 1:]
        robot = np.concatenate([np.cos(joints), np.sin(joints), joints / self.limits[1:]], axis=-1)
        points = np.concatenate([self.ee[:, None, :], self.objects - self.ee[:, None, :]], axis=1)
        c, s = np.cos(self.q[:, :1]), np.sin(self.q[:, :1])
        x, y = points[..., 0], points[..., 1]
        task = np.stack([c * x + s * y, c * y - s * x], axis=-1).reshape(self.num_envs, TASK_OBS_DIM)
        return {"robot": robot.astype(np.float32), "task": task.astype(np.float32)}

    def frame(self, i: int) -> np.ndarray:
        """Copy i drawn as an RGB frame (`draw_arm`)."""
        return draw_arm(self.links, self.q[i], self.objects[i], self.task)


class ArmEnv(gym.Env):
    """A planar arm doing a reaching or pushing task (Devin et al., 2017).

    ## Description
    A planar revolute arm (`Arm2`, `Arm3`, `Arm3Long`, `Arm4`: 2-4 links of
    different lengths) with its base at the origin, in a world measured in
    units of the arm's reach. `ReachRed` / `ReachBlue`: a red and a blue
    target are present; move the end effector to the named one. `Push`: the
    end effector (a disc of radius 0.04) pushes a block (a disc of radius
    0.06) out of overlap; push the block onto the goal, which lies between
    the block and the arm's base (the arm starts further out and pushes inward).

    ## Action Space
    `Box(-1, 1, (n_joints,), float32)`: joint velocities, scaled by 3 rad/s,
    integrated over dt = 0.05 s. The base joint turns freely, the others are
    limited to +-2.5 rad.

    ## Observation Space
    `Dict(robot=Box(3 (n_joints - 1)), task=Box(6))`, float32.
    `robot`: [cos q, sin q, q / limit] of every joint but the base. `task`:
    [ee_xy, object0_xy - ee_xy, object1_xy - ee_xy] in reach units and in the
    base frame (x along the first link), where the objects are (red, blue) for
    reach tasks and (block, goal) for `Push`. The base angle only turns that
    frame, so it is not observed: the suite is rotation invariant.

    ## Rewards
    Potential-based shaping: `10 (Φ(s') - Φ(s)) - 0.01`, plus 1.0 on success,
    with Φ = `-distance(ee, target)` for reach and `-2 distance(block, goal) -
    0.5 distance(ee, spot)` for Push, where the spot is just behind the block
    on the far side from the goal: each step pays the progress it made.

    ## Starting State
    Base angle uniform in [-pi, pi], other joints uniform in [-1, 1] rad
    ([-0.3, 0.3] for Push: the arm starts nearly straight, beyond the block).
    Targets uniform in radius [0.3, 0.85] reach, red and blue >= 60 degrees
    apart. Block in radius [0.45, 0.7], goal 0.15-0.25 from it toward the base,
    within 45 degrees of the inward radial direction.

    ## Episode End
    Terminates on success: task distance < 0.1 reach (ee to target, or
    block to goal). Truncates after 50 steps (reach) or 100 steps (push), by
    the registered `max_episode_steps`. `info` has `is_success` (bool) and
    `distance` (float, reach units) at every step.

    ## Arguments
    `robot`: one of `ROBOTS`; `task`: one of `TASKS`. Registered as
    `modrl/{robot}-{task}-v1` (v0 observed the world frame); `gymnasium.make_vec` returns
    `ArmVectorEnv`. `render_mode`: None or "rgb_array" (256x256 uint8 frames of the world frame,
    `draw_arm`, at 20 fps); for a window, wrap it in `gymnasium.wrappers.HumanRendering`.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": RENDER_FPS}

    def __init__(self, robot: str = "Arm3", task: str = "ReachRed", render_mode: str | None = None):
        _check_render_mode(render_mode)
        self.core = ArmCore(robot, task, 1)
        self.robot, self.task = robot, task
        self.observation_space = observation_space(robot)
        self.action_space = action_space(robot)
        self.render_mode = render_mode

    def _obs(self) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.core.obs().items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.core.reset(np.ones(1, dtype=bool), self.np_random)
        _, success, distance = self.core.evaluate()
        return self._obs(), {"is_success": bool(success[0]), "distance": float(distance[0])}

    def step(self, action: np.ndarray):
        self.core.step(np.asarray(action)[None])
        reward, success, distance = self.core.evaluate()
        done = bool(success[0])
        info = {"is_success": done, "distance": float(distance[0])}
        return self._obs(), float(reward[0]), done, False, info

    def render(self) -> np.ndarray | None:
        """The current state as an RGB frame (H, W, 3) uint8 under "rgb_array"; None without a render mode."""
        if self.render_mode is None:
            gym.logger.warn('render() needs a render mode: gym.make(id, render_mode="rgb_array")')
            return None
        return self.core.frame(0)


class ArmVectorEnv(VectorEnv):
    """N copies of `ArmEnv` stepped at once in numpy, with SAME_STEP autoreset.

    When a copy's episode ends, the returned obs is already its reset obs;
    the last obs is in `info["final_obs"]` (an object array, `None` where
    not done) and its info in `info["final_info"]`, as in gymnasium's
    `SyncVectorEnv(autoreset_mode=SAME_STEP)`. `reset(seed=[s_0, ..., s_{N-1}])` starts copy i
    as `ArmEnv.reset(seed=s_i)` would; `render()` gives one frame per copy.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": RENDER_FPS, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        robot: str = "Arm3",
        task: str = "ReachRed",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ):
        _check_render_mode(render_mode)
        self.core = ArmCore(robot, task, num_envs)
        self.robot, self.task, self.num_envs = robot, task, num_envs
        self.max_episode_steps = max_episode_steps or MAX_EPISODE_STEPS[task]
        self.single_observation_space = observation_space(robot)
        self.single_action_space = action_space(robot)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = render_mode
        self.metadata = dict(self.metadata)
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._all = np.ones(num_envs, dtype=bool)

    def _info(self, success: np.ndarray, distance: np.ndarray) -> dict[str, Any]:
        return {"is_success": success, "_is_success": self._all.copy(),
                "distance": distance, "_distance": self._all.copy()}

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every copy. `seed`: an int seeds the whole batch; a list gives copy i the seed s_i
        (None: unseeded) and seeds the later autoresets from the whole list."""
        if seed is None or isinstance(seed, (int, np.integer)):
            super().reset(seed=None if seed is None else int(seed))  # seeds self.np_random when seed is given
            self.core.reset(self._all, self.np_random)
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} copies; pass one per copy, or an int")
            given = [int(s) for s in seeds if s is not None]
            super().reset(seed=int(np.random.SeedSequence(given).generate_state(1)[0]) if given else None)
            for i, s in enumerate(seeds):
                rng = self.np_random if s is None else seeding.np_random(int(s))[0]
                self.core.reset(np.arange(self.num_envs) == i, rng)
        self._steps[:] = 0
        _, success, distance = self.core.evaluate()
        return self.core.obs(), self._info(success, distance)

    def step(self, actions: np.ndarray):
        self.core.step(actions)
        reward, terminated, distance = self.core.evaluate()
        self._steps += 1
        truncated = (self._steps >= self.max_episode_steps) & ~terminated
        done = terminated | truncated
        obs = self.core.obs()
        info = self._info(terminated.copy(), distance)
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):  # only the copies that ended
                final_obs[i] = {k: v[i] for k, v in obs.items()}
            final_info = {k: v.copy() for k, v in info.items()}
            final_info["_is_success"] = done.copy()
            final_info["_distance"] = done.copy()
            self.core.reset(done, self.np_random)
            self._steps[done] = 0
            obs = self.core.obs()
            _, success, distance = self.core.evaluate()
            info = self._info(np.where(done, success, info["is_success"]), distance)
            info.update(final_obs=final_obs, _final_obs=done.copy(),
                        final_info=final_info, _final_info=done.copy())
        return obs, reward, terminated, truncated, info

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One RGB frame (H, W, 3) uint8 per copy under "rgb_array"; None without a render mode."""
        if self.render_mode is None:
            gym.logger.warn('render() needs a render mode: gym.make_vec(id, n, render_mode="rgb_array")')
            return None
        return tuple(self.core.frame(i) for i in range(self.num_envs))


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode not in (None, *ArmEnv.metadata["render_modes"]):
        raise ValueError(f"unknown render_mode {render_mode!r}; valid: {ArmEnv.metadata['render_modes']} or None")


def scripted_action(robot: str, task: str, obs: dict[str, np.ndarray]) -> np.ndarray:
    """A hand-written controller for any arm and task, from the observation alone.

    Damped-least-squares inverse kinematics toward a Cartesian waypoint: the
    target for reach tasks; for `Push`, a point behind the block (going round
    it), then through the block toward the goal. Works on single (D,) or
    batched (N, D) observations.
    """
    check_names(robot, task)
    links = _links(robot)
    n = len(links)
    robot_obs = np.atleast_2d(obs["robot"]).astype(np.float64)
    task_obs = np.atleast_2d(obs["task"]).astype(np.float64)
    # In the base frame the base angle is 0: solve there, joint velocities are frame-free.
    q = np.zeros((len(robot_obs), n))
    q[:, 1:] = np.arctan2(robot_obs[:, n - 1:2 * n - 2], robot_obs[:, :n - 1])
    ee = task_obs[:, 0:2]
    obj0, obj1 = ee + task_obs[:, 2:4], ee + task_obs[:, 4:6]
    if task == "ReachRed":
        delta = obj0 - ee
    elif task == "ReachBlue":
        delta = obj1 - ee
    else:
        delta = _push_delta(ee, obj0, obj1)
    # Limit the Cartesian step, then solve J dq = delta by damped least squares.
    norm = np.linalg.norm(delta, axis=-1, keepdims=True)
    delta = delta * np.minimum(1.0, 0.08 / np.maximum(norm, 1e-9))
    J = jacobian(links, q)
    JJt = J @ np.swapaxes(J, -1, -2) + 0.01 * np.eye(2)
    dq = (np.swapaxes(J, -1, -2) @ np.linalg.solve(JJt, delta[..., None]))[..., 0]
    # Null-space pull of the limited joints toward 0, away from their limits.
    centre = np.zeros_like(q)
    centre[:, 1:] = -0.2 * q[:, 1:]
    J_pinv = np.swapaxes(J, -1, -2) @ np.linalg.inv(JJt)
    dq += centre - (J_pinv @ (J @ centre[..., None]))[..., 0]
    action = dq / (MAX_JOINT_SPEED * DT)
    action /= np.maximum(1.0, np.abs(action).max(-1, keepdims=True))
    action = action.astype(np.float32)
    return action if np.ndim(obs["robot"]) == 2 else action[0]


def _push_delta(ee: np.ndarray, block: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Cartesian move for pushing: get behind the block, then push it to the goal."""
    contact = EE_RADIUS + BLOCK_RADIUS
    to_goal = goal - block
    u = to_goal / np.maximum(np.linalg.norm(to_goal, axis=-1, keepdims=True), 1e-9)
    rel = ee - block
    along = (rel * u).sum(-1, keepdims=True)
    perp = rel - along * u
    perp_dist = np.linalg.norm(perp, axis=-1, keepdims=True)
    aligned = (along < -0.5 * contact) & (perp_dist < 0.3 * BLOCK_RADIUS)
    behind = along < -0.8 * contact
    # Push: aim a little into the block along the push direction.
    push = block - u * (contact - 0.05) - ee
    # Approach: go to the point behind the block.
    approach = block - u * (contact + 0.03) - ee
    # Go round: move sideways (on the ee's side) and back, keeping clear.
    side = np.where(perp_dist > 1e-6, perp / np.maximum(perp_dist, 1e-9),
                    np.stack([-u[:, 1], u[:, 0]], axis=-1))
    around = block + side * (contact + 0.05) - u * (contact + 0.03) - ee
    return np.where(aligned, push, np.where(behind, approach, around))
