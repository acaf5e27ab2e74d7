"""Evaluate any (robot, task) pairs with saved modules, possibly from different runs.

    python scripts/zero_shot.py --modules runs/train/modular/seed1/modules --pairs Arm2:ReachRed Arm3:ReachBlue
    python scripts/zero_shot.py --robots-from runA/modules --tasks-from runB/modules --pairs Arm4:Push
    python scripts/zero_shot.py --modules runs/train/modular/seed1/modules --pairs Arm2:Push --capture-video videos
    python scripts/zero_shot.py --modules runs/train/routed-ppo/seed1/modules --pairs Arm2:Push   # a routed run
    python scripts/zero_shot.py --suite grid --modules runs/grid/seed1/modules --pairs Mirrored:Door --action-shares
    python scripts/zero_shot.py --suite arms6 --modules runs/arms6/modular/seed1/modules --pairs Arm5:Avoid --tracking
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from agents.common.cli import run_cli
import envs
from agents.common.evaluate import evaluate
from agents.rl.recombine import load_policy
from agents.common.report import parse_pairs, publish
from agents.common.spec import SuiteSpec
from agents.common.video import MISSING_MOVIEPY, record_pairs, video_available
from agents.routing.files import ROUTERS_FILE, load_routed


@dataclass
class ZeroShotArgs:
    pairs: tuple[str, ...]
    """pairs to evaluate, written Robot:Task"""
    modules: Path | None = None
    """directory holding robot/ and task/ module files (sets both below), or a routed run's modules
    (layer*/ and routers.pt)"""
    robots_from: Path | None = None
    """directory whose robot/ modules to use"""
    tasks_from: Path | None = None
    """directory whose task/ modules to use"""
    suite: str = "arms"
    """robot x task suite the modules were trained on"""
    episodes: int = 100
    """evaluation episodes per pair"""
    seed: int = 0
    """evaluation seed"""
    sample: bool = True
    """sample actions from the policy (False: its mean / most likely action)"""
    out: Path | None = None
    """write zero_shot.json and zero_shot.png here"""
    capture_video: Path | None = None
    """record one episode per pair as an mp4 here, plus a PNG frame (needs modrl[video])"""
    action_shares: bool = False
    """also report the share of each action per pair (discrete suites)"""
    tracking: bool = False
    """also report how closely each robot makes the end-effector move its message asks for (a modular
    policy with the affine coupling and width 2, on an arms suite)"""


def main(args: ZeroShotArgs) -> list[dict]:
    if args.capture_video is not None and not video_available():
        raise ValueError(MISSING_MOVIEPY)
    suite = envs.get_suite(args.suite)
    pairs = parse_pairs(args.pairs)
    for pair in pairs:
        suite.check(*pair)
        if args.action_shares:
            suite.action_names(pair[0])
    robots_from, tasks_from = args.robots_from or args.modules, args.tasks_from or args.modules
    if robots_from is None or tasks_from is None:
        raise ValueError("say where the modules are: --modules DIR, or --robots-from DIR and --tasks-from DIR")
    if (Path(robots_from) / ROUTERS_FILE).exists() or (Path(tasks_from) / ROUTERS_FILE).exists():
        if robots_from != tasks_from:
            raise ValueError("a routed run's modules are chosen by its routers, not by robot and task: give it as "
                             "--modules DIR, not --robots-from / --tasks-from")
        policy = load_routed(robots_from, args.suite)
    else:
        robots = list(dict.fromkeys(r for r, _ in pairs))
        tasks = list(dict.fromkeys(t for _, t in pairs))
        policy = load_policy(SuiteSpec.from_suite(suite), robots_from, tasks_from, robots, tasks, args.suite)
    name = getattr(policy, "name", "modular")
    records = [r | {"split": "evaluated", "policy": name, "seed": args.seed, "suite": args.suite,
                    "actions": "sampled" if args.sample else "mean"}
               for r in evaluate(policy, suite, pairs, args.episodes, args.seed, deterministic=not args.sample,
                                 action_shares=args.action_shares, tracking=args.tracking)]
    publish(records, list(suite.robots), list(suite.tasks), args.out)
    if args.action_shares:
        for r in records:
            shares = "  ".join(f"{action} {share:.2f}" for action, share in r["action_shares"].items())
            print(f"{r['robot']}:{r['task']}  {shares}")
    if args.tracking:
        for r in records:
            print(f"{r['robot']}:{r['task']}  move made vs asked: cosine {r['tracking_cosine']:.2f}, "
                  f"speed {r['tracking_speed']:.2f}")
    if args.capture_video is not None:
        videos, frame = record_pairs(policy, suite, pairs, args.capture_video, seed=args.seed, sample=args.sample)
        print(f"{len(videos)} videos and {frame.name} in {args.capture_video}")
    return records


if __name__ == "__main__":
    run_cli(main, ZeroShotArgs)
