"""Planar arms x tasks, after Devin et al. (2017), natively batched in numpy.

Two suites run on this machinery. `arms` (ids `modrl/{Robot}-{Task}-v1`): four
velocity-controlled arms of 2-4 links x reach red, reach blue, push. `arms6`
(ids `modrl/Arms6-{Robot}-{Task}-v0`): six arms that also differ in joint
limits, a joint that turns against its action, acceleration control and a
fifth link x six tasks: reach red or blue among three colours, push, reach
around an obstacle, hold at a target, follow a moving target. An `ArmRobot`
says how an arm moves, an `ArmTask` what it asks of the end effector.

One `ArmCore` holds the state of N copies of a (robot, task) pair and steps
them all at once. `ArmEnv` is the single gymnasium env (N=1) and
`ArmVectorEnv` the native vector env (any N, SAME_STEP autoreset); both run
the same numpy code, so a seeded `ArmVectorEnv(num_envs=1)` and `ArmEnv`
produce the same trajectories. `Arms6Env` and `Arms6VectorEnv` are the same
classes on the `arms6` suite.

All positions are in units of the arm's reach (links are rescaled to sum to
1, base at the origin), so a task module sees the same geometry whatever the
arm. They are observed in the base frame (x along the first link), so a policy
need not learn every task again at every orientation: the suite is rotation
invariant, and the base angle itself is not observed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

# The `arms` suite. Link lengths per robot (only their ratios matter: they are rescaled to reach 1).
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
CONTACT_SUBSTEPS = 4  # contact checks per step when pushing or avoiding
BLOCK_RADIUS = 0.06  # block disc, reach units
PUSH_START_BEND = 0.3  # rad: a Push episode starts with the arm nearly straight, out beyond the block
TASK_OBS_DIM = 6  # arms: [ee_xy, object0_xy - ee_xy, object1_xy - ee_xy], in the base frame
TASK_OBS_BOUND = 3.0  # relative positions span up to twice the (pushed-past) reach
RENDER_SIZE = 256  # rgb_array frames are RENDER_SIZE x RENDER_SIZE pixels
RENDER_VIEW = 1.2  # half-width of the rendered square, reach units (base at the centre)
RENDER_FPS = round(1 / DT)

# The `arms6` suite's new robots and tasks.
MAX_JOINT_ACCEL = 30.0  # rad/s^2 at |action| = 1, for acceleration-controlled arms
JOINT_DAMPING = 0.1  # share of joint velocity lost per step under acceleration control
TARGET_RADII = (0.35, 0.85)  # arms6 targets: uniform in this radius range, reach units
OBSTACLE_RADIUS = 0.08  # Avoid: the obstacle disc, reach units
CONTACT_PENALTY = 1.0  # Avoid: reward lost when the end effector touches the obstacle (the episode ends)
HOLD_DISTANCE = 0.06  # Hold: the end effector must stay this close to the target...
HOLD_STEPS = 10  # ...for this many steps in a row
TRACK_STEPS = 20  # Track: steps in a row within SUCCESS_DISTANCE of the moving target
TRACK_SPEEDS = (0.6, 1.0)  # Track: the target's angular speed about the base, rad/s (either way round)
HOLD_WEIGHT = 0.3  # Hold, Track: potential of a full count of held steps
EE_MOVE_SCALE = MAX_JOINT_SPEED * DT  # info["ee_move"] is the end effector's move over this (one joint's full step)


@dataclass(frozen=True)
class ArmRobot:
    """How a planar arm moves: its links, its joints' limits, which way they turn, what actions drive."""

    links: tuple[float, ...]
    """link lengths, base first (only their ratios matter)"""
    limit: float = JOINT_LIMIT
    """rad, for every joint but the base, which turns freely"""
    signs: tuple[float, ...] | None = None
    """+1 or -1 per joint: -1 where a positive action turns the joint clockwise (None: all +1)"""
    control: Literal["velocity", "acceleration"] = "velocity"
    """velocity: actions are joint speeds (x MAX_JOINT_SPEED); acceleration: joint accelerations
    (x MAX_JOINT_ACCEL) with damping, and the joint speeds are observed"""

    def __post_init__(self) -> None:
        if self.signs is not None and len(self.signs) != len(self.links):
            raise ValueError(f"give one sign per joint: {len(self.links)} links, {len(self.signs)} signs")
        if self.control not in ("velocity", "acceleration"):
            raise ValueError(f"unknown control {self.control!r}; valid: velocity, acceleration")

    @property
    def obs_dim(self) -> int:
        """cos q, sin q and q / limit for each joint but the base (the base angle only turns the frame),
        then every joint's speed / MAX_JOINT_SPEED under acceleration control."""
        n = len(self.links)
        return 3 * (n - 1) + (n if self.control == "acceleration" else 0)


ARMS6_ROBOTS: dict[str, ArmRobot] = {
    "Arm2": ArmRobot((1.0, 0.8)),
    "Arm3": ArmRobot((0.6, 0.5, 0.4)),
    "Arm3Tight": ArmRobot((0.5, 0.5, 0.5), limit=1.6),
    "Arm3Flip": ArmRobot((0.6, 0.5, 0.4), signs=(1.0, -1.0, 1.0)),
    "Arm3Accel": ArmRobot((1.0, 0.7, 0.5), control="acceleration"),
    "Arm5": ArmRobot((0.3, 0.25, 0.2, 0.15, 0.1)),
}


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _to_base_frame(points: np.ndarray, base: np.ndarray) -> np.ndarray:
    """World-frame vectors (N, ..., 2) turned by minus each copy's base angle (N, ...) into its base frame."""
    c, s = np.cos(base), np.sin(base)
    x, y = points[..., 0], points[..., 1]
    return np.stack([c * x + s * y, c * y - s * x], axis=-1)


def _annulus(rng: np.random.Generator, k: int, lo: float, hi: float) -> np.ndarray:
    """k points uniform in radius and angle within lo <= r <= hi, shape (k, 2)."""
    r = rng.uniform(lo, hi, k)
    th = rng.uniform(-np.pi, np.pi, k)
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=-1)


def _polar(r: np.ndarray, th: np.ndarray) -> np.ndarray:
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=-1)


def _away_from(rng: np.random.Generator, ee: np.ndarray) -> np.ndarray:
    """One point per copy in TARGET_RADII, at least 60 degrees round the base from the end effector."""
    k = len(ee)
    r = rng.uniform(*TARGET_RADII, k)
    return _polar(r, np.arctan2(ee[:, 1], ee[:, 0]) + rng.uniform(np.pi / 3, 5 * np.pi / 3, k))


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
            "goal": (40, 160, 80), "green": (30, 150, 60), "target": (150, 60, 190), "obstacle": (95, 95, 100)}


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

    def zone(self, centre: np.ndarray, radius: float, colour: str, alpha: float = 0.25) -> None:
        """A translucent disc with a thin outline: a success zone or a contact zone."""
        self.disc(centre, radius, colour, alpha)
        self.capsule(centre, centre, radius, colour, ring=0.01)

    def frame(self) -> np.ndarray:
        return np.round(self.image).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _backdrop(size: int) -> np.ndarray:
    """The background with the reach circle, drawn once per size."""
    canvas = _Canvas(size)
    canvas.capsule(np.zeros(2), np.zeros(2), 1.0, "reach", ring=0.008)
    canvas.image.setflags(write=False)
    return canvas.image


# ---- tasks: what each asks of the end effector --------------------------------------------------


class ArmTask:
    """What a task asks of the end effector; one instance serves every arm and every copy.

    `ArmCore` keeps the state: `objects` (one point per entry of `colours`), `param` (a number per
    copy), `held` (steps in a row near the target) and `failed`. A task says how they start, how a
    step changes them, how far the task is from done, what the task observation holds beyond the
    end effector and the objects (`vectors`, turned into the base frame, then frame-free `scalars`),
    how to draw them, and where a scripted controller should head (`waypoint`).
    """

    colours: tuple[str, ...] = ()
    """one per object: observed relative to the end effector, in this order, and drawn in this colour"""
    vectors: int = 0
    """world-frame vectors observed in the base frame after the objects"""
    scalars: int = 0
    """frame-free numbers observed last"""
    start_bend: float = 1.0
    """rad: joints but the base start uniform in [-start_bend, start_bend]"""
    touches: bool = False
    """`touch` runs at every contact sub-step of a step"""
    can_fail: bool = False
    """an episode can end in failure (`core.failed`), which costs CONTACT_PENALTY"""
    max_steps: int = 50
    """steps before truncation"""
    steps: int = 1
    """steps in a row the end effector must stay near the target (Hold, Track)"""

    @property
    def obs_dim(self) -> int:
        return 2 * (1 + len(self.colours) + self.vectors) + self.scalars

    def sample(self, rng: np.random.Generator, ee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objects (k, len(colours), 2) and params (k,) for k copies whose end effectors start at ee (k, 2)."""
        raise NotImplementedError

    def touch(self, core: "ArmCore", ee: np.ndarray) -> None:
        """Contacts of the end effector, at ee (N, 2), with the objects, during a step."""

    def advance(self, core: "ArmCore") -> None:
        """After the arm moved: objects move on, held steps are counted."""

    def measure(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Task distance (reach units), shaping potential Φ and success of every copy."""
        raise NotImplementedError

    def extras(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray]:
        """World-frame vectors (N, vectors, 2) and scalars (N, scalars) to observe."""
        return np.zeros((core.num_envs, 0, 2)), np.zeros((core.num_envs, 0))

    def draw(self, canvas: _Canvas, objects: np.ndarray, progress: float) -> None:
        """Draw the objects of one copy; `progress` is its held steps over the steps to hold."""
        raise NotImplementedError

    def waypoint(self, ee: np.ndarray, points: np.ndarray, vectors: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """Cartesian move (N, 2) a scripted controller makes next, from the base-frame observation: ee (N, 2),
        objects (N, len(colours), 2) as positions, vectors and scalars."""
        raise NotImplementedError


class Reach(ArmTask):
    """Move the end effector within SUCCESS_DISTANCE of the target of one colour (`arms`: red and blue,
    in radius [0.3, 0.85], >= 60 degrees apart)."""

    def __init__(self, aimed: str, colours: tuple[str, ...] = ("red", "blue")) -> None:
        self.colours, self.aimed = colours, colours.index(aimed)

    def sample(self, rng: np.random.Generator, ee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(ee)
        red = _annulus(rng, k, 0.3, 0.85)
        # Blue at least 60 degrees away from red, so the two are >= 0.3 apart.
        r = rng.uniform(0.3, 0.85, k)
        th = np.arctan2(red[:, 1], red[:, 0]) + rng.uniform(np.pi / 3, 5 * np.pi / 3, k)
        blue = np.stack([r * np.cos(th), r * np.sin(th)], axis=-1)
        return np.stack([red, blue], axis=1), np.zeros(k)

    def measure(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        distance = np.linalg.norm(core.ee - core.objects[:, self.aimed], axis=-1)
        return distance, -distance, distance < SUCCESS_DISTANCE

    def draw(self, canvas: _Canvas, objects: np.ndarray, progress: float) -> None:
        for i, colour in enumerate(self.colours):
            if i == self.aimed:
                canvas.disc(objects[i], SUCCESS_DISTANCE, colour, alpha=0.25)
            canvas.disc(objects[i], 0.035, colour)

    def waypoint(self, ee, points, vectors, scalars):
        return points[:, self.aimed] - ee


class ReachAmong(Reach):
    """Reach the target of one colour among red, green and blue ones: radius in TARGET_RADII, pairwise
    >= 60 degrees apart round the base, colours in random order."""

    def __init__(self, aimed: str) -> None:
        super().__init__(aimed, ("red", "green", "blue"))

    def sample(self, rng: np.random.Generator, ee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, m = len(ee), len(self.colours)
        gaps = np.pi / 3 + np.pi * rng.dirichlet(np.ones(m), k)  # m gaps >= 60 degrees summing to 2 pi
        angles = rng.uniform(-np.pi, np.pi, (k, 1)) + np.cumsum(gaps, axis=1)
        angles = np.take_along_axis(angles, np.argsort(rng.uniform(size=(k, m)), axis=1), axis=1)
        return _polar(rng.uniform(*TARGET_RADII, (k, m)), angles), np.zeros(k)


class Push(ArmTask):
    """Push the block (a disc of radius BLOCK_RADIUS, pushed out of overlap by the end effector) within
    SUCCESS_DISTANCE of the goal."""

    colours = ("block", "goal")
    start_bend = PUSH_START_BEND
    touches = True
    max_steps = 100

    def sample(self, rng: np.random.Generator, ee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block in radius [0.45, 0.7]; goal 0.15-0.25 from it toward the base (within 45 degrees
        of straight in), so the pushing spot faces the arm, which starts further out."""
        k = len(ee)
        block = _annulus(rng, k, 0.45, 0.7)
        inward = np.arctan2(-block[:, 1], -block[:, 0]) + rng.uniform(-np.pi / 4, np.pi / 4, k)
        reach = rng.uniform(0.15, 0.25, k)
        goal = block + reach[:, None] * np.stack([np.cos(inward), np.sin(inward)], axis=-1)
        return np.stack([block, goal], axis=1), np.zeros(k)

    def touch(self, core: "ArmCore", ee: np.ndarray) -> None:
        """The end-effector disc pushes the block disc out of overlap."""
        rel = core.objects[:, 0] - ee
        dist = np.linalg.norm(rel, axis=-1, keepdims=True)
        contact = EE_RADIUS + BLOCK_RADIUS
        pushed = ee + rel / np.maximum(dist, 1e-9) * contact
        core.objects[:, 0] = np.where(dist < contact, pushed, core.objects[:, 0])

    def measure(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        block, goal = core.objects[:, 0], core.objects[:, 1]
        distance = np.linalg.norm(block - goal, axis=-1)
        # The pushing spot: just behind the block, on the far side from the goal.
        away = (block - goal) / np.maximum(distance, 1e-9)[:, None]
        spot = block + away * (EE_RADIUS + BLOCK_RADIUS)
        approach = np.linalg.norm(core.ee - spot, axis=-1)
        return distance, -2.0 * distance - 0.5 * approach, distance < SUCCESS_DISTANCE

    def draw(self, canvas: _Canvas, objects: np.ndarray, progress: float) -> None:
        canvas.disc(objects[1], SUCCESS_DISTANCE, "goal", alpha=0.3)
        canvas.capsule(objects[1], objects[1], SUCCESS_DISTANCE, "goal", ring=0.01)
        canvas.disc(objects[0], BLOCK_RADIUS, "block")

    def waypoint(self, ee, points, vectors, scalars):
        return _push_delta(ee, points[:, 0], points[:, 1])


class Avoid(ArmTask):
    """Reach the target without the end effector touching the obstacle (a disc of radius OBSTACLE_RADIUS)
    that sits halfway along the straight path from where the end effector starts."""

    colours = ("target", "obstacle")
    touches = True
    can_fail = True
    max_steps = 60

    def sample(self, rng: np.random.Generator, ee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target in TARGET_RADII, 90-150 degrees round the base from the end effector (either way);
        the obstacle at the midpoint of the two, moved up to 0.02 off the line."""
        k = len(ee)
        turn = np.where(rng.uniform(size=k) < 0.5, -1.0, 1.0) * rng.uniform(np.pi / 2, 5 * np.pi / 6, k)
        target = _polar(rng.uniform(*TARGET_RADII, k), np.arctan2(ee[:, 1], ee[:, 0]) + turn)
        line = target - ee
        normal = np.stack([-line[:, 1], line[:, 0]], axis=-1) / np.linalg.norm(line, axis=-1, keepdims=True)
        obstacle = 0.5 * (ee + target) + rng.uniform(-0.02, 0.02, (k, 1)) * normal
        return np.stack([target, obstacle], axis=1), np.zeros(k)

    def touch(self, core: "ArmCore", ee: np.ndarray) -> None:
        core.failed |= np.linalg.norm(ee - core.objects[:, 1], axis=-1) < EE_RADIUS + OBSTACLE_RADIUS

    def measure(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        distance = np.linalg.norm(core.ee - core.objects[:, 0], axis=-1)
        return distance, -distance, (distance < SUCCESS_DISTANCE) & ~core.failed

    def draw(self, canvas: _Canvas, objects: np.ndarray, progress: float) -> None:
        canvas.zone(objects[0], SUCCESS_DISTANCE, "target")
        canvas.disc(objects[0], 0.035, "target")
        canvas.zone(objects[1], OBSTACLE_RADIUS + EE_RADIUS, "obstacle", alpha=0.15)  # where the ee centre touches
        canvas.disc(objects[1], OBSTACLE_RADIUS, "obstacle")

    def waypoint(self, ee, points, vectors, scalars):
        return _detour(ee, points[:, 0], points[:, 1])


class Hold(ArmTask):
    """Bring the end effector within HOLD_DISTANCE of the target and keep it there HOLD_STEPS steps in
    a row; the held steps so far, over HOLD_STEPS, are observed."""

    colours = ("target",)
    scalars = 1
    max_steps = 60
    radius, steps = HOLD_DISTANCE, HOLD_STEPS

    def sample(self, rng: np.random.Generator, ee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target in TARGET_RADII, at least 60 degrees round the base from the end effector."""
        return _away_from(rng, ee)[:, None], np.zeros(len(ee))

    def advance(self, core: "ArmCore") -> None:
        near = np.linalg.norm(core.ee - core.objects[:, 0], axis=-1) < self.radius
        core.held = np.where(near, core.held + 1, 0)

    def measure(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        distance = np.linalg.norm(core.ee - core.objects[:, 0], axis=-1)
        return distance, HOLD_WEIGHT * core.held / self.steps - distance, core.held >= self.steps

    def extras(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((core.num_envs, 0, 2)), (core.held / self.steps)[:, None]

    def draw(self, canvas: _Canvas, objects: np.ndarray, progress: float) -> None:
        canvas.zone(objects[0], self.radius, "target", alpha=0.2 + 0.6 * progress)
        canvas.disc(objects[0], 0.03, "target")

    def waypoint(self, ee, points, vectors, scalars):
        return points[:, 0] - ee


class Track(Hold):
    """Follow a target that circles the base: stay within SUCCESS_DISTANCE of it TRACK_STEPS steps in a
    row. Its velocity (base frame) and the held steps over TRACK_STEPS are observed."""

    vectors = 1
    max_steps = 100
    radius, steps = SUCCESS_DISTANCE, TRACK_STEPS

    def sample(self, rng: np.random.Generator, ee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target on a circle of radius [0.4, 0.8] about the base, starting at least 60 degrees round from
        the end effector, turning at TRACK_SPEEDS rad/s either way (the param)."""
        k = len(ee)
        start = _polar(rng.uniform(0.4, 0.8, k), np.arctan2(ee[:, 1], ee[:, 0]) + rng.uniform(np.pi / 3, 5 * np.pi / 3, k))
        speed = np.where(rng.uniform(size=k) < 0.5, -1.0, 1.0) * rng.uniform(*TRACK_SPEEDS, k)
        return start[:, None], speed

    def advance(self, core: "ArmCore") -> None:
        turn = core.param * DT
        c, s = np.cos(turn), np.sin(turn)
        x, y = core.objects[:, 0, 0], core.objects[:, 0, 1]
        core.objects[:, 0] = np.stack([c * x - s * y, s * x + c * y], axis=-1)
        super().advance(core)

    def extras(self, core: "ArmCore") -> tuple[np.ndarray, np.ndarray]:
        target = core.objects[:, 0]
        velocity = core.param[:, None] * np.stack([-target[:, 1], target[:, 0]], axis=-1)
        return velocity[:, None], (core.held / self.steps)[:, None]

    def draw(self, canvas: _Canvas, objects: np.ndarray, progress: float) -> None:
        canvas.capsule(np.zeros(2), np.zeros(2), float(np.linalg.norm(objects[0])), "target", alpha=0.35, ring=0.006)
        canvas.zone(objects[0], self.radius, "target", alpha=0.2 + 0.6 * progress)
        canvas.disc(objects[0], 0.03, "target")

    def waypoint(self, ee, points, vectors, scalars):
        return points[:, 0] + vectors[:, 0] * DT - ee


ARMS6_TASKS: dict[str, ArmTask] = {
    "ReachRed": ReachAmong("red"),
    "ReachBlue": ReachAmong("blue"),
    "Push": Push(),
    "Avoid": Avoid(),
    "Hold": Hold(),
    "Track": Track(),
}
_SUITES: dict[str, tuple[dict[str, ArmRobot], dict[str, ArmTask]]] = {
    "arms": ({name: ArmRobot(links) for name, links in ROBOTS.items()},
             {"ReachRed": Reach("red"), "ReachBlue": Reach("blue"), "Push": Push()}),
    "arms6": (ARMS6_ROBOTS, ARMS6_TASKS),
}


def _tables(suite: str) -> tuple[dict[str, ArmRobot], dict[str, ArmTask]]:
    if suite not in _SUITES:
        raise ValueError(f"unknown arms suite {suite!r}; valid suites: {sorted(_SUITES)}")
    return _SUITES[suite]


def _elsewhere(name: str, role: int) -> str:
    """Where else a robot (role 0) or task (role 1) of this name is, for an error message."""
    others = [suite for suite, tables in _SUITES.items() if name in tables[role]]
    return f" ({name!r} is in suite {', '.join(others)}: ArmEnv is the arms suite, Arms6Env arms6)" if others else ""


def arm_robot(robot: str, suite: str = "arms") -> ArmRobot:
    """The `ArmRobot` called `robot` in `suite`; ValueError listing the valid names if there is none."""
    robots = _tables(suite)[0]
    if robot not in robots:
        raise ValueError(f"unknown {suite} robot {robot!r}; valid robots: {sorted(robots)}{_elsewhere(robot, 0)}")
    return robots[robot]


def arm_task(task: str, suite: str = "arms") -> ArmTask:
    """The `ArmTask` called `task` in `suite`; ValueError listing the valid names if there is none."""
    tasks = _tables(suite)[1]
    if task not in tasks:
        raise ValueError(f"unknown {suite} task {task!r}; valid tasks: {list(tasks)}{_elsewhere(task, 1)}")
    return tasks[task]


def check_names(robot: str, task: str, suite: str = "arms") -> None:
    """Raise ValueError listing valid names if the suite, robot or task is unknown."""
    arm_robot(robot, suite)
    arm_task(task, suite)


def robot_obs_dim(robot: str, suite: str = "arms") -> int:
    """Size of the robot observation (`ArmRobot.obs_dim`)."""
    return arm_robot(robot, suite).obs_dim


def task_obs_dim(task: str, suite: str = "arms") -> int:
    """Size of the task observation: end effector, objects relative to it, vectors, scalars."""
    return arm_task(task, suite).obs_dim


def action_space(robot: str, suite: str = "arms") -> spaces.Box:
    """Joint velocities (or accelerations) in [-1, 1], scaled by MAX_JOINT_SPEED (MAX_JOINT_ACCEL)."""
    return spaces.Box(-1.0, 1.0, (len(arm_robot(robot, suite).links),), np.float32)


def observation_space(robot: str, task: str = "ReachRed", suite: str = "arms") -> spaces.Dict:
    """The single-env Dict(robot, task) observation space."""
    return spaces.Dict(
        {
            "robot": spaces.Box(-1.0, 1.0, (robot_obs_dim(robot, suite),), np.float32),
            "task": spaces.Box(-TASK_OBS_BOUND, TASK_OBS_BOUND, (task_obs_dim(task, suite),), np.float32),
        }
    )


def _links(robot: str, suite: str = "arms") -> np.ndarray:
    links = np.asarray(arm_robot(robot, suite).links, dtype=np.float64)
    return links / links.sum()


def draw_arm(links: np.ndarray, q: np.ndarray, objects: np.ndarray, task: str, size: int = RENDER_SIZE,
             suite: str = "arms", progress: float = 0.0) -> np.ndarray:
    """An RGB frame (size x size x 3, uint8) of one arm in the world frame, base at the centre.

    The reach circle in grey; the task's objects (`ArmTask.draw`: reach targets with the aimed
    one's success zone; Push's goal zone in green and block in brown; Avoid's target and grey
    obstacle; Hold's and Track's target, whose zone darkens as steps are held, and Track's
    circle); links, joints, base, and the end effector in gold. Drawn in numpy alone.
    """
    canvas = _Canvas(size, _backdrop(size))
    origin = np.zeros(2)
    arm_task(task, suite).draw(canvas, objects, progress)
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
    """State and physics of N copies of one (robot, task) pair of an arms suite."""

    def __init__(self, robot: str, task: str, num_envs: int, suite: str = "arms") -> None:
        check_names(robot, task, suite)
        self.robot, self.task, self.num_envs, self.suite = robot, task, num_envs, suite
        self.arm, self.spec = arm_robot(robot, suite), arm_task(task, suite)
        self.links = _links(robot, suite)
        n = len(self.links)
        self.limits = np.full(n, self.arm.limit)
        self.limits[0] = np.pi
        self.signs = None if self.arm.signs is None else np.asarray(self.arm.signs, dtype=np.float64)
        self.accelerates = self.arm.control == "acceleration"
        self.q = np.zeros((num_envs, n))
        self.qd = np.zeros((num_envs, n))  # joint speeds, rad/s (acceleration control only)
        self.ee = forward_kinematics(self.links, self.q)
        # The task's objects (arms: red and blue targets, or block and goal), one number per copy
        # (Track: the target's angular speed), held steps in a row, and whether the episode failed.
        self.objects = np.zeros((num_envs, len(self.spec.colours), 2))
        self.param = np.zeros(num_envs)
        self.held = np.zeros(num_envs, dtype=np.int64)
        self.failed = np.zeros(num_envs, dtype=bool)
        self.potential = np.zeros(num_envs)
        self.ee_move = np.zeros((num_envs, 2))  # the last step's end-effector move, base frame of its start

    def reset(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        """Resample the state of the copies where mask is True."""
        k = int(mask.sum())
        if k == 0:
            return
        n = len(self.links)
        bend = self.spec.start_bend
        q = rng.uniform(-bend, bend, (k, n))
        q[:, 0] = rng.uniform(-np.pi, np.pi, k)
        self.q[mask] = q
        self.qd[mask] = 0.0
        ee = forward_kinematics(self.links, q)
        self.ee[mask] = ee
        self.objects[mask], self.param[mask] = self.spec.sample(rng, ee)
        self.held[mask] = 0
        self.failed[mask] = False
        self.ee_move[mask] = 0.0
        self.potential[mask] = self.spec.measure(self)[1][mask]

    def step(self, action: np.ndarray) -> None:
        """Move the joints for one step, then resolve contacts and move the task on."""
        a = np.asarray(action, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"actions must be finite, got {a[~np.isfinite(a).all(axis=-1)][:3].tolist()} "
                             "(a policy that diverged?)")
        a = np.clip(a, -1.0, 1.0)
        if self.signs is not None:
            a = a * self.signs
        if self.accelerates:
            qd = np.clip(self.qd * (1.0 - JOINT_DAMPING) + a * (MAX_JOINT_ACCEL * DT), -MAX_JOINT_SPEED, MAX_JOINT_SPEED)
            q = self.q + qd * DT
            qd[:, 1:] = np.where(np.abs(q[:, 1:]) > self.limits[1:], 0.0, qd[:, 1:])  # a joint stops at its limit
            self.qd = qd
        else:
            q = self.q + a * (MAX_JOINT_SPEED * DT)
        q[:, 0] = _wrap(q[:, 0])
        q[:, 1:] = np.clip(q[:, 1:], -self.limits[1:], self.limits[1:])
        if self.spec.touches:
            # Sub-steps so a fast end effector cannot jump over an object.
            delta = _wrap(q - self.q)
            for frac in np.arange(1, CONTACT_SUBSTEPS + 1) / CONTACT_SUBSTEPS:
                self.spec.touch(self, forward_kinematics(self.links, self.q + frac * delta))
        ee = forward_kinematics(self.links, q)
        self.ee_move = _to_base_frame(ee - self.ee, self.q[:, 0]) / EE_MOVE_SCALE
        self.q, self.ee = q, ee
        self.spec.advance(self)

    def evaluate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reward, success and task distance (reach units) of every copy.

        Reward = SHAPING_SCALE · (Φ(s') − Φ(s)) − TIME_COST + SUCCESS_BONUS · success
        (− CONTACT_PENALTY · failed): progress toward the goal since the last call, so a second
        call without a step gives no progress. An episode ends on success or failure (`failed`).
        """
        distance, potential, success = self.spec.measure(self)
        progress = potential - self.potential
        self.potential = potential
        reward = SHAPING_SCALE * progress - TIME_COST + SUCCESS_BONUS * success
        if self.spec.can_fail:
            reward = reward - CONTACT_PENALTY * self.failed
        return reward, success, distance

    def obs(self) -> dict[str, np.ndarray]:
        """Batched Dict observation in the base frame (rotated by minus the base angle), float32."""
        joints = self.q[:, 1:]
        robot = [np.cos(joints), np.sin(joints), joints / self.limits[1:]]
        if self.accelerates:
            robot.append(self.qd / MAX_JOINT_SPEED)
        vectors, scalars = self.spec.extras(self)
        points = np.concatenate([self.ee[:, None, :], self.objects - self.ee[:, None, :], vectors], axis=1)
        task = _to_base_frame(points, self.q[:, :1]).reshape(self.num_envs, -1)
        if scalars.shape[1]:
            task = np.concatenate([task, scalars], axis=-1)
        return {"robot": np.concatenate(robot, axis=-1).astype(np.float32), "task": task.astype(np.float32)}

    def frame(self, i: int) -> np.ndarray:
        """Copy i drawn as an RGB frame (`draw_arm`)."""
        progress = min(1.0, self.held[i] / self.spec.steps)
        return draw_arm(self.links, self.q[i], self.objects[i], self.task, suite=self.suite, progress=progress)


class ArmEnv(gym.Env):
    """A planar arm doing a reaching or pushing task (Devin et al., 2017): the `arms` suite.

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
    `distance` (float, reach units) at every step, and `ee_move` (2 floats): the step's end-effector
    move in the base frame of its start, over 0.15 reach (what one joint's full-speed step turns).

    ## Arguments
    `robot`: one of `ROBOTS`; `task`: one of `TASKS`. Registered as
    `modrl/{robot}-{task}-v1` (v0 observed the world frame); `gymnasium.make_vec` returns
    `ArmVectorEnv`. `render_mode`: None or "rgb_array" (256x256 uint8 frames of the world frame,
    `draw_arm`, at 20 fps); for a window, wrap it in `gymnasium.wrappers.HumanRendering`.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": RENDER_FPS}
    suite = "arms"

    def __init__(self, robot: str = "Arm3", task: str = "ReachRed", render_mode: str | None = None):
        _check_render_mode(render_mode)
        self.core = ArmCore(robot, task, 1, self.suite)
        self.robot, self.task = robot, task
        self.observation_space = observation_space(robot, task, self.suite)
        self.action_space = action_space(robot, self.suite)
        self.render_mode = render_mode

    def _obs(self) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.core.obs().items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.core.reset(np.ones(1, dtype=bool), self.np_random)
        _, success, distance = self.core.evaluate()
        return self._obs(), {"is_success": bool(success[0]), "distance": float(distance[0]),
                             "ee_move": self.core.ee_move[0].astype(np.float32)}

    def step(self, action: np.ndarray):
        self.core.step(np.asarray(action)[None])
        reward, success, distance = self.core.evaluate()
        info = {"is_success": bool(success[0]), "distance": float(distance[0]),
                "ee_move": self.core.ee_move[0].astype(np.float32)}
        return self._obs(), float(reward[0]), bool(success[0] or self.core.failed[0]), False, info

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
    suite = "arms"

    def __init__(
        self,
        num_envs: int = 1,
        robot: str = "Arm3",
        task: str = "ReachRed",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ):
        _check_render_mode(render_mode)
        self.core = ArmCore(robot, task, num_envs, self.suite)
        self.robot, self.task, self.num_envs = robot, task, num_envs
        self.max_episode_steps = max_episode_steps or self.core.spec.max_steps
        self.single_observation_space = observation_space(robot, task, self.suite)
        self.single_action_space = action_space(robot, self.suite)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = render_mode
        self.metadata = dict(self.metadata)
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._all = np.ones(num_envs, dtype=bool)

    def _info(self, success: np.ndarray, distance: np.ndarray) -> dict[str, Any]:
        return {"is_success": success, "_is_success": self._all.copy(),
                "distance": distance, "_distance": self._all.copy(),
                "ee_move": self.core.ee_move.astype(np.float32), "_ee_move": self._all.copy()}

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
        reward, success, distance = self.core.evaluate()
        terminated = success | self.core.failed
        self._steps += 1
        truncated = (self._steps >= self.max_episode_steps) & ~terminated
        done = terminated | truncated
        obs = self.core.obs()
        info = self._info(success.copy(), distance)
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):  # only the copies that ended
                final_obs[i] = {k: v[i] for k, v in obs.items()}
            final_info = {k: v.copy() for k, v in info.items()}
            final_info["_is_success"] = done.copy()
            final_info["_distance"] = done.copy()
            final_info["_ee_move"] = done.copy()
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


class Arms6Env(ArmEnv):
    """A planar arm of the `arms6` suite doing one of six end-effector tasks.

    ## Description
    Six planar revolute arms, base at the origin, in a world measured in units of the arm's reach:
    `Arm2` (links 1 : 0.8), `Arm3` (0.6 : 0.5 : 0.4), `Arm3Tight` (three equal links whose joints
    turn only +-1.6 rad, so it cannot fold in close), `Arm3Flip` (as `Arm3`, but a positive action
    turns its second joint clockwise), `Arm3Accel` (1 : 0.7 : 0.5, driven by joint accelerations
    instead of velocities) and `Arm5` (five links, 0.3 : 0.25 : 0.2 : 0.15 : 0.1). Tasks:
    `ReachRed` / `ReachBlue`: red, green and blue targets are present; move the end effector to the
    named one. `Push`: as in `arms`, push a block (disc of radius 0.06) onto the goal between it and
    the base. `Avoid`: reach the target without the end effector (disc of radius 0.04) touching an
    obstacle (disc of radius 0.08) that sits halfway along the straight path. `Hold`: stay within
    0.06 of the target for 10 steps in a row. `Track`: stay within 0.1 of a target that circles the
    base at 0.6-1.0 rad/s for 20 steps in a row.

    ## Action Space
    `Box(-1, 1, (n_joints,), float32)`, n_joints = 2, 3 or 5. Velocity control: joint velocities,
    scaled by 3 rad/s, integrated over dt = 0.05 s. `Arm3Accel`: joint accelerations, scaled by
    30 rad/s^2; each step the joint speeds lose 10% (damping), are clipped to +-3 rad/s and
    integrated, and a joint that hits its limit stops. `Arm3Flip`'s second joint turns by minus its
    action. The base joint turns freely; the others are limited to +-2.5 rad (`Arm3Tight`: +-1.6).

    ## Observation Space
    `Dict(robot=Box(-1, 1, (r,)), task=Box(-3, 3, (t,)))`, float32.
    `robot`: [cos q, sin q, q / limit] of every joint but the base (r = 3 (n_joints - 1)), then for
    `Arm3Accel` every joint's speed / 3 rad/s (r = 9). `task`: positions in reach units, in the
    base frame (x along the first link; the base angle only turns that frame, so it is not
    observed): [ee_xy, then each object's xy - ee_xy], then vectors, then scalars.
    `ReachRed` / `ReachBlue`: objects red, green, blue (t = 8). `Push`: block, goal (t = 6).
    `Avoid`: target, obstacle (t = 6). `Hold`: target; held steps / 10 (t = 5). `Track`: target;
    its velocity; held steps / 20 (t = 7).

    ## Rewards
    Potential-based shaping: `10 (Φ(s') - Φ(s)) - 0.01`, plus 1.0 on success, minus 1.0 when the
    end effector touches the obstacle (`Avoid`). Φ = `-distance(ee, target)` for reach and Avoid;
    `-2 distance(block, goal) - 0.5 distance(ee, spot)` for Push (the spot is just behind the
    block on the far side from the goal); `-distance(ee, target) + 0.3 held / steps to hold` for
    Hold and Track, so every held step pays and leaving the target costs what was held.

    ## Starting State
    Base angle uniform in [-pi, pi], other joints uniform in [-1, 1] rad ([-0.3, 0.3] for Push),
    joint speeds 0. Targets in radius [0.35, 0.85]: reach targets pairwise >= 60 degrees apart
    round the base, colours in random order; Hold's target >= 60 degrees round from the end
    effector; Avoid's target 90-150 degrees round from it, the obstacle at the midpoint of the
    end effector and the target, up to 0.02 off the line. Track's target on a circle of radius
    [0.4, 0.8], >= 60 degrees round from the end effector. Push: as in `arms`.

    ## Episode End
    Terminates on success: task distance < 0.1 reach (ee to target, or block to goal) for reach,
    Push and Avoid; the held-steps count reaching 10 (Hold) or 20 (Track). Avoid also terminates,
    unsuccessfully, when the end effector touches the obstacle (checked at 4 sub-steps per step).
    Truncates after 50 (reach), 60 (Avoid, Hold) or 100 (Push, Track) steps, by the registered
    `max_episode_steps`. `info` has `is_success` (bool) and `distance` (float, ee or block to
    target, reach units) and `ee_move` (as in `arms`) at every step.

    ## Arguments
    `robot`: one of `ARMS6_ROBOTS`; `task`: one of `ARMS6_TASKS`. Registered as
    `modrl/Arms6-{robot}-{task}-v0`; `gymnasium.make_vec` returns `Arms6VectorEnv`. `render_mode`:
    None or "rgb_array" (256x256 uint8 frames of the world frame, `draw_arm`, at 20 fps).
    """

    suite = "arms6"


class Arms6VectorEnv(ArmVectorEnv):
    """N copies of `Arms6Env` stepped at once in numpy, with SAME_STEP autoreset (see `ArmVectorEnv`)."""

    suite = "arms6"


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode not in (None, *ArmEnv.metadata["render_modes"]):
        raise ValueError(f"unknown render_mode {render_mode!r}; valid: {ArmEnv.metadata['render_modes']} or None")


def scripted_action(robot: str, task: str, obs: dict[str, np.ndarray], suite: str = "arms") -> np.ndarray:
    """A hand-written controller for any arm and task of an arms suite, from the observation alone
    (and the arm's make-up: its links, joint signs and control).

    Damped-least-squares inverse kinematics toward a Cartesian waypoint (`ArmTask.waypoint`): the
    target for reach and Hold; for `Push`, a point behind the block (going round it), then through
    the block toward the goal; for `Avoid`, a point beside the obstacle while it blocks the way;
    for `Track`, where the target will be next step. Under acceleration control the joint speeds
    wanted are turned into the accelerations that reach them. Works on single (D,) or batched
    (N, D) observations.
    """
    check_names(robot, task, suite)
    arm, spec = arm_robot(robot, suite), arm_task(task, suite)
    links = _links(robot, suite)
    n = len(links)
    robot_obs = np.atleast_2d(obs["robot"]).astype(np.float64)
    task_obs = np.atleast_2d(obs["task"]).astype(np.float64)
    # In the base frame the base angle is 0: solve there, joint velocities are frame-free.
    q = np.zeros((len(robot_obs), n))
    q[:, 1:] = np.arctan2(robot_obs[:, n - 1:2 * n - 2], robot_obs[:, :n - 1])
    ee = task_obs[:, 0:2]
    m, v = len(spec.colours), spec.vectors
    points = ee[:, None, :] + task_obs[:, 2:2 + 2 * m].reshape(len(ee), m, 2)
    vectors = task_obs[:, 2 + 2 * m:2 + 2 * (m + v)].reshape(len(ee), v, 2)
    delta = spec.waypoint(ee, points, vectors, task_obs[:, 2 + 2 * (m + v):])
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
    if arm.control == "acceleration":
        speed = robot_obs[:, 3 * (n - 1):3 * (n - 1) + n] * MAX_JOINT_SPEED
        action = (dq / DT - speed * (1.0 - JOINT_DAMPING)) / (MAX_JOINT_ACCEL * DT)
    else:
        action = dq / (MAX_JOINT_SPEED * DT)
    action /= np.maximum(1.0, np.abs(action).max(-1, keepdims=True))
    if arm.signs is not None:
        action = action * np.asarray(arm.signs)
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


def _detour(ee: np.ndarray, target: np.ndarray, obstacle: np.ndarray) -> np.ndarray:
    """Cartesian move for Avoid: while the obstacle blocks the straight way to the target, head for a
    point beside it (on the side the way already passes, unless that point is out of reach), and
    step straight away from it when too close."""
    clear = EE_RADIUS + OBSTACLE_RADIUS + 0.05
    way = target - ee
    length = np.maximum(np.linalg.norm(way, axis=-1, keepdims=True), 1e-9)
    u = way / length
    normal = np.stack([-u[:, 1], u[:, 0]], axis=-1)
    rel = obstacle - ee
    along = (rel * u).sum(-1, keepdims=True)
    off = (rel * normal).sum(-1, keepdims=True)
    blocked = (along > 0) & (along < length) & (np.abs(off) < clear)
    side = np.where(off > 0, -1.0, 1.0)  # away from the obstacle
    beside = obstacle + side * normal * (clear + 0.05)
    radius = np.linalg.norm(beside, axis=-1, keepdims=True)
    beside = np.where((radius > 0.4) & (radius < 0.92), beside, obstacle - side * normal * (clear + 0.05))
    delta = np.where(blocked, beside, target) - ee
    gap = np.linalg.norm(ee - obstacle, axis=-1, keepdims=True)
    push_off = (ee - obstacle) / np.maximum(gap, 1e-9) * (clear - gap)
    return delta + np.where(gap < clear, 2.0 * push_off, 0.0)
