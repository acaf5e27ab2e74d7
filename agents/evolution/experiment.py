"""The experiments `scripts/evolve.py` runs, one seed at a time (a job for `run_jobs`):

- PathNet transfer: evolve task A, then task B three ways from the same state after A —
  "transfer" (A's best path frozen, the rest re-initialised), "independent" (everything
  re-initialised) and "finetune" (nothing frozen or re-initialised); generations to solve B.
- µNet: the problem's tasks in order (Digits-MTL tasks, or RL pairs introduced one at a time);
  per task test quality and parameters, beside independent networks and fine-tuning of one
  network; on RL also zero-shot success on pairs never introduced.

Each seed writes checkpoints under `out/seed<N>/` (every `checkpoint_every` generations and at the
end of each task), TensorBoard logs under `out/tb/`, and returns its JSON record.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from agents.common.files import write_atomically
from agents.common.parallel import JobPool
from agents.common.report import parse_pairs
from agents.evolution import baselines
from agents.evolution.genotype import derive_seed
from agents.evolution.munet import MuNet, MuNetConfig
from agents.evolution.pathnet import MODES, PathNet, PathNetConfig
from agents.evolution.problems import DigitsPairs, DigitsSequence, Problem

if TYPE_CHECKING:
    from agents.evolution.rl import RLSequence

SUITES = ("digits", "arms", "grid")
RL_PAIRS = {"arms": ("Arm2:ReachRed", "Arm2:Push"), "grid": ("Ego:Goal", "Ego:Key")}
RL_SEQUENCES = {"arms": ("Arm2:ReachRed", "Arm3:ReachRed", "Arm3:Push", "Arm4:ReachBlue"),
                "grid": ("Ego:Goal", "Ego:Key", "Cardinal:Key", "Mirrored:Door")}
"""µNet's default RL pairs, introduced in this order: new robots on known tasks, new tasks on known
robots, and both new."""


@dataclass
class RunConfig:
    """Where a search writes and how it reports (not what it computes)."""

    out: Path | None = None
    """output directory (checkpoints, TensorBoard); None: keep nothing"""
    checkpoint_every: int = 25
    """generations between checkpoints"""
    progress: bool = True
    """show a progress bar per task"""


@dataclass
class PathNetRun:
    """One seed of the PathNet transfer experiment."""

    suite: str = "digits"
    pairs: tuple[str, ...] = ()
    """tasks A and B: digit pairs "a:b" (digits) or "Robot:Task" (arms, grid); empty: digits draws two
    random pairs per seed, RL takes the suite's preset"""
    conditions: tuple[str, ...] = MODES
    """what happens between A and B: transfer, independent, finetune"""
    search: PathNetConfig = field(default_factory=PathNetConfig)


def pathnet_problem(run: PathNetRun, seed: int) -> Problem:
    if run.suite == "digits":
        if run.pairs:
            pairs = tuple(tuple(int(d) for d in p.split(":")) for p in run.pairs)
        else:  # two different pairs of different digits, drawn from the seed
            rng = random.Random(derive_seed(seed, 20))
            all_pairs = [(a, b) for a in range(10) for b in range(a + 1, 10)]
            pairs = tuple(rng.sample(all_pairs, 2))
        return DigitsPairs(pairs=pairs, seed=seed)
    from agents.evolution.rl import RLTasks

    return RLTasks(suite=run.suite, pairs=run.pairs or RL_PAIRS[run.suite])


def _writer(run: RunConfig, name: str):
    if run.out is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run.out / "tb" / name))


def _search_task(search: PathNet, pool: JobPool, run: RunConfig, checkpoint: Path | None, name: str,
                 extra: dict) -> int | None:
    """Run the search's current task to the end, with progress, TensorBoard and checkpoints."""
    from tqdm.auto import tqdm

    writer = _writer(run, name)
    bar = tqdm(total=search.config.max_generations, initial=search.generation, desc=name, unit="gen",
               disable=not run.progress, leave=False)

    def on_generation(record: dict) -> None:
        bar.update(1)
        bar.set_postfix(best=f"{record['best_fitness']:.3f}")
        if writer is not None:
            writer.add_scalar("fitness/best", record["best_fitness"], record["generation"])
            writer.add_scalar("fitness/mean", record["mean_fitness"], record["generation"])
        if checkpoint is not None and record["generation"] % run.checkpoint_every == 0:
            _save(checkpoint, search, extra)

    try:
        generations = search.run_task(pool, on_generation)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return generations


def _save(path: Path, search, extra: dict) -> None:
    write_atomically(path, lambda tmp: torch.save({"search": search.state_dict(), **extra}, tmp))


def _load(path: Path | None) -> dict | None:
    if path is None or not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def run_pathnet_seed(experiment: PathNetRun, run: RunConfig, seed: int, pool: JobPool | None = None) -> dict:
    """Task A, then task B under every condition; the seed's record (resumes from its checkpoints)."""
    pool = pool or JobPool("serial")
    torch.set_num_threads(1)
    problem = pathnet_problem(experiment, seed)
    folder = None if run.out is None else run.out / f"seed{seed}"
    first = None if folder is None else folder / "taskA.pt"
    search = PathNet(problem, experiment.search, seed)
    saved = _load(first)
    if saved is not None:
        search.load_state_dict(saved["search"])
    if saved is None or not saved.get("done"):
        if search.task is None:
            search.start_task(0)
        _search_task(search, pool, run, first, f"seed{seed}-A", {"done": False})
        if first is not None:
            _save(first, search, {"done": True})
    record: dict[str, Any] = {
        "seed": seed, "suite": experiment.suite, "tasks": list(problem.tasks),
        "generations_A": search.generation if search.solved else None, "curve_A": _curve(search),
        "path_A": search.best[1].to_dict()["genes"], "fitness_A": search.best[0], "conditions": {},
        "max_generations": experiment.search.max_generations, "threshold": experiment.search.threshold,
    }
    for mode in experiment.conditions:
        branch = copy.deepcopy(search)
        checkpoint = None if folder is None else folder / f"taskB-{mode}.pt"
        saved = _load(checkpoint)
        if saved is not None:
            branch.load_state_dict(saved["search"])
        else:
            branch.finish_task(mode)
            branch.start_task(1)
        if saved is None or not saved.get("done"):
            _search_task(branch, pool, run, checkpoint, f"seed{seed}-B-{mode}", {"done": False})
            if checkpoint is not None:
                _save(checkpoint, branch, {"done": True})
        frozen_a = [set(layer) for layer in branch.frozen()[:-1]] if mode == "transfer" else None
        best_b = branch.best[1]
        reused = (sum(len(mods & frozen) for mods, frozen in zip(best_b.modules(), frozen_a))
                  if frozen_a is not None else None)
        record["conditions"][mode] = {
            "generations": branch.generation if branch.solved else None, "curve": _curve(branch),
            "path": best_b.to_dict()["genes"], "fitness": branch.best[0], "reused_modules": reused,
            "test_accuracy": _test_quality(problem, branch, best_b),
        }
    return record


def _curve(search: PathNet) -> list[float]:
    return [r["best_fitness"] for r in search.history]


def _test_quality(problem: Problem, search: PathNet, genotype) -> float | None:
    if not isinstance(problem, DigitsPairs):
        return None
    return problem.evaluate(search.net, genotype.path((search.task,)), search.task, "test")


# -- µNet ----------------------------------------------------------------------------------------


@dataclass
class MuNetRun:
    """One seed of µNet on a task sequence, with its baselines."""

    suite: str = "digits"
    digits: tuple[int, ...] = tuple(range(10))
    """Digits-MTL tasks, in order ("is this digit d?")"""
    train_per_task: int = 100
    """training + validation examples per task (a quarter validates)"""
    pairs: tuple[str, ...] = ()
    """RL: "Robot:Task" pairs introduced in order (empty: `RL_SEQUENCES[suite]`)"""
    zero_shot_pairs: tuple[str, ...] = ()
    """RL: never-introduced pairs to run zero-shot (empty: every other pair of the suite)"""
    baseline_steps: int | None = 300
    """training steps per task of the independent and fine-tuned networks (None: as many as all of
    µNet's candidates on that task together)"""
    search: MuNetConfig = field(default_factory=MuNetConfig)

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ValueError(f"unknown suite {self.suite!r}; valid: {list(SUITES)}")
        if self.suite == "digits" and (self.pairs or self.zero_shot_pairs):
            raise ValueError("--pairs and --zero-shot-pairs are for the RL suites (arms, grid); digits takes --digits")
        if self.baseline_steps is not None and self.baseline_steps < 1:
            raise ValueError(f"baseline_steps must be >= 1 (or None), got {self.baseline_steps}")
        if self.suite != "digits":  # refuse unknown or repeated pairs before any run
            munet_problem(self, 0)
            self.new_pairs()

    def new_pairs(self) -> list[tuple[str, str]]:
        """RL: the pairs never introduced that the run tries zero-shot."""
        import envs

        suite = envs.get_suite(self.suite)
        introduced = parse_pairs(self.pairs or RL_SEQUENCES[self.suite])
        if not self.zero_shot_pairs:
            return [p for p in suite.pairs() if p not in introduced]
        pairs = parse_pairs(self.zero_shot_pairs)
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"zero-shot pairs must not repeat, got {list(self.zero_shot_pairs)}")
        for robot, task in pairs:
            suite.check(robot, task)
            if (robot, task) in introduced:
                raise ValueError(f"zero-shot pair {robot}:{task} is introduced (--pairs), so it is not zero-shot")
        return pairs


def munet_problem(experiment: MuNetRun, seed: int) -> Problem:
    """Digits-MTL (the split from `seed`), or the RL pairs in order."""
    if experiment.suite == "digits":
        return DigitsSequence(digits=experiment.digits, train_per_task=experiment.train_per_task, seed=seed)
    from agents.evolution.rl import RLSequence

    return RLSequence(suite=experiment.suite, pairs=experiment.pairs or RL_SEQUENCES[experiment.suite])


def run_munet_seed(experiment: MuNetRun, run: RunConfig, seed: int, pool: JobPool | None = None) -> dict:
    """Every task in order (resumes from its checkpoint); the seed's record with the baselines."""
    from tqdm.auto import tqdm

    pool = pool or JobPool("serial")
    torch.set_num_threads(1)
    problem = munet_problem(experiment, seed)
    cfg = experiment.search
    checkpoint = None if run.out is None else run.out / f"seed{seed}" / "munet.pt"
    search = MuNet(problem, cfg, seed)
    saved = _load(checkpoint)
    if saved is not None:
        search.load_state_dict(saved["search"])
    writer = _writer(run, f"seed{seed}-munet")
    curves: dict[int, list[float]] = dict(saved.get("curves", {})) if saved else {}
    for task in range(len(problem.tasks)):
        if task in search.finished:
            continue
        bar = tqdm(total=cfg.generations, initial=search.generation if search.task == task else 0,
                   desc=f"seed{seed}-{problem.tasks[task]}", unit="gen", disable=not run.progress, leave=False)

        def on_generation(record: dict) -> None:
            bar.update(1 if record["generation"] > 0 else 0)
            curves.setdefault(task, []).append(record["best_score"])
            if writer is not None:
                step = task * (cfg.generations + 1) + record["generation"]
                writer.add_scalar("score/best", record["best_score"], step)
                writer.add_scalar("quality/best", record["best_quality"], step)
            if checkpoint is not None and record["generation"] % run.checkpoint_every == 0:
                _save(checkpoint, search, {"curves": curves})

        search.run_task(task, pool, on_generation)
        bar.close()
        if checkpoint is not None:
            _save(checkpoint, search, {"curves": curves})
    if writer is not None:
        writer.close()
    middle = cfg.lrs[len(cfg.lrs) // 2]
    summary = search.summary()
    steps = experiment.baseline_steps or [r["training_steps"] for r in summary]
    record = {
        "seed": seed, "suite": experiment.suite, "tasks": list(problem.tasks), "munet": summary,
        "reference_parameters": search.reference, "curves": {str(k): v for k, v in curves.items()},
        "total_parameters": sum(r["new_parameters"] for r in summary),
        "independent": baselines.independent(problem, cfg.layers, cfg.width, steps, middle, seed),
        "finetune": baselines.finetune(problem, cfg.layers, cfg.width, steps, middle, seed),
    }
    if experiment.suite != "digits":
        record["zero_shot"] = munet_zero_shot(search, problem, experiment.new_pairs(), seed)
    return record


def munet_zero_shot(search: MuNet, problem: RLSequence, pairs: list[tuple[str, str]], seed: int) -> list[dict]:
    """Per never-introduced pair: the success of every introduced pair's final path (with that pair's
    head, under the new robot's action mask), the rule's pick (`zero_shot_source`: the latest
    introduced pair with the same task) and an untrained network of the seed model's shape."""
    from agents.evolution.rl import zero_shot_source

    if not pairs:
        return []
    introduced = parse_pairs(problem.tasks)
    run = lambda net, path: problem.success(net, path, pairs, problem.test_episodes, 30_000)  # noqa: E731
    by_source = [run(search.net, search.path_of(t)) for t in range(len(introduced))]
    cfg = search.config
    untrained = run(baselines.plain_network(problem, cfg.layers, cfg.width, derive_seed(seed, 14)),
                    baselines.plain_path(cfg.layers, 0))
    rows = []
    for j, pair in enumerate(pairs):
        source = zero_shot_source(pair, introduced)
        rows.append({"pair": ":".join(pair), "source": None if source is None else problem.tasks[source],
                     "success": None if source is None else by_source[source][j], "untrained": untrained[j],
                     "by_source": {problem.tasks[t]: by_source[t][j] for t in range(len(introduced))}})
    return rows


# -- summaries -----------------------------------------------------------------------------------


def bootstrap_ci(values: np.ndarray, statistic=np.mean, samples: int = 10_000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over the rows of `values` (resampled together)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    idx = rng.integers(0, len(values), size=(samples, len(values)))
    stats = np.array([statistic(values[i]) for i in idx])
    alpha = (1 - confidence) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def summarise_pathnet(records: list[dict]) -> dict:
    """Per condition: generations to solve B (unsolved counted as max_generations), mean with a
    bootstrap 95% CI over seeds; the speed-up independent / transfer (paired bootstrap over seeds)."""
    conditions = list(records[0]["conditions"])
    cap = records[0]["max_generations"]
    table = {}
    for mode in conditions:
        gens = np.array([r["conditions"][mode]["generations"] or cap for r in records], dtype=float)
        lo, hi = bootstrap_ci(gens)
        table[mode] = {"mean": float(gens.mean()), "ci95": [lo, hi], "median": float(np.median(gens)),
                       "unsolved": sum(r["conditions"][mode]["generations"] is None for r in records),
                       "per_seed": gens.tolist()}
    gens_a = np.array([r["generations_A"] or cap for r in records], dtype=float)
    out = {"seeds": len(records), "task_A": {"mean": float(gens_a.mean()), "ci95": list(bootstrap_ci(gens_a))},
           "task_B": table}
    if "transfer" in conditions and "independent" in conditions:
        pairs = np.stack([table["independent"]["per_seed"], table["transfer"]["per_seed"]], 1)
        ratio = lambda rows: rows[:, 0].mean() / rows[:, 1].mean()  # noqa: E731
        out["speedup_independent_over_transfer"] = {"value": float(ratio(pairs)),
                                                    "ci95": list(bootstrap_ci(pairs, ratio))}
    if "transfer" in conditions:
        reused = [r["conditions"]["transfer"]["reused_modules"] for r in records]
        out["transfer_reused_modules_mean"] = float(np.mean(reused))
    return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values))


def summarise_munet(records: list[dict]) -> list[dict]:
    """Per task, means over seeds: µNet test quality (accuracy, RL: success rate), new and accounted
    parameters, reused modules, training steps of all its candidates; independent networks' quality,
    parameters and steps; fine-tuning's quality after its own task and at the end."""
    rows = []
    for t, name in enumerate(records[0]["tasks"]):
        rows.append({
            "task": name,
            "munet_test": _mean([r["munet"][t]["test"] for r in records]),
            "munet_new_parameters": _mean([r["munet"][t]["new_parameters"] for r in records]),
            "munet_accounted_parameters": _mean([r["munet"][t]["accounted_parameters"] for r in records]),
            "munet_reused_modules": _mean([r["munet"][t]["reused_modules"] for r in records]),
            "munet_steps": _mean([r["munet"][t]["training_steps"] for r in records]),
            "independent_test": _mean([r["independent"][t]["test"] for r in records]),
            "independent_parameters": _mean([r["independent"][t]["parameters"] for r in records]),
            "independent_steps": _mean([r["independent"][t]["steps"] for r in records]),
            "finetune_test_after_own": _mean([r["finetune"][t]["test_after_own"] for r in records]),
            "finetune_test_at_end": _mean([r["finetune"][t]["test_at_end"] for r in records]),
        })
    return rows


def summarise_zero_shot(records: list[dict]) -> list[dict]:
    """Per never-introduced pair, means over seeds: success with the rule's path, with each
    introduced pair's path, and of an untrained network."""
    rows = []
    for j, first in enumerate(records[0]["zero_shot"]):
        pick = [r["zero_shot"][j] for r in records]
        rows.append({"pair": first["pair"], "source": first["source"],
                     "success": None if first["source"] is None else _mean([p["success"] for p in pick]),
                     "untrained": _mean([p["untrained"] for p in pick]),
                     "by_source": {k: _mean([p["by_source"][k] for p in pick]) for k in first["by_source"]}})
    return rows


# -- figures -------------------------------------------------------------------------------------


def plot_pathnet(records: list[dict], path: Path, search: PathNetConfig) -> None:
    """Best fitness per generation on task B per condition (every seed), and the modules the best
    paths of A and B (transfer) use in the first seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, grid) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    colours = {"transfer": "tab:blue", "independent": "tab:orange", "finetune": "tab:green"}
    for mode in records[0]["conditions"]:
        for i, r in enumerate(records):
            curve = r["conditions"][mode]["curve"]
            ax.plot(range(1, len(curve) + 1), curve, color=colours.get(mode, "grey"), alpha=0.5, linewidth=1,
                    label=mode if i == 0 else None)
    ax.axhline(records[0]["threshold"], color="black", linestyle="--", linewidth=1, label="threshold")
    ax.set_xlabel("generation on task B")
    ax.set_ylabel("best fitness of the generation")
    ax.set_title(f"PathNet, task B ({len(records)} seeds)")
    ax.legend(fontsize=8)
    first = records[0]
    usage = np.zeros((search.layers, search.modules))
    for layer, genes in enumerate(first["path_A"]):
        for m in set(genes):
            usage[layer, m] += 1
    if "transfer" in first["conditions"]:
        for layer, genes in enumerate(first["conditions"]["transfer"]["path"]):
            for m in set(genes):
                usage[layer, m] += 2
    grid.imshow(usage, cmap=matplotlib.colors.ListedColormap(["white", "tab:blue", "tab:orange", "tab:purple"]),
                vmin=-0.5, vmax=3.5, aspect="auto")
    grid.set_xticks(range(search.modules))
    grid.set_yticks(range(search.layers))
    grid.set_xlabel("module")
    grid.set_ylabel("layer")
    grid.set_title(f"seed {first['seed']}: A only (blue), B only (orange), both (purple)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_munet(records: list[dict], rows: list[dict], path: Path) -> None:
    """Test quality per task (µNet, independent, fine-tuning at the end), the first seed's module
    per slot for every task (a shared module has the same number on several tasks) and, on RL,
    zero-shot success of every introduced pair's path on every never-introduced pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rl = records[0]["suite"] != "digits"
    panels = 3 if rl and records[0]["zero_shot"] else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4))
    ax, grid = axes[0], axes[1]
    x = np.arange(len(rows))
    for k, (key, label) in enumerate((("munet_test", "µNet"), ("independent_test", "independent"),
                                       ("finetune_test_at_end", "fine-tuning (after the last task)"))):
        ax.bar(x + (k - 1) * 0.27, [r[key] for r in rows], 0.27, label=label)
    ax.set_xticks(x, [r["task"] for r in rows], rotation=45)
    ax.set_ylim(0.0 if rl else 0.4, 1.25 if rl else 1.0)  # RL: room for the legend above the bars
    ax.set_yticks(np.linspace(0.0 if rl else 0.4, 1.0, 6 if rl else 4))
    ax.set_ylabel("test success rate" if rl else "test accuracy")
    ax.set_title(f"tasks in order ({len(records)} seeds)")
    ax.legend(fontsize=8, loc="upper center", ncol=3) if rl else ax.legend(fontsize=8, loc="lower left")
    first = records[0]["munet"]
    slot_names = sorted({s for r in first for s in r["path"]}, key=_slot_order)
    matrix = np.full((len(first), len(slot_names)), np.nan)
    for i, r in enumerate(first):
        for j, s in enumerate(slot_names):
            if s in r["path"]:
                matrix[i, j] = r["path"][s]
                grid.text(j, i, str(r["path"][s]), ha="center", va="center", fontsize=7)
    grid.imshow(np.isnan(matrix), cmap="Greys", aspect="auto", vmin=0, vmax=2)
    grid.set_xticks(range(len(slot_names)), slot_names, rotation=45, fontsize=8)
    grid.set_yticks(range(len(first)), [r["name"] for r in first])
    grid.set_title(f"seed {records[0]['seed']}: module per slot (shared = same number)", fontsize=9)
    if panels == 3:
        _plot_zero_shot(axes[2], summarise_zero_shot(records), len(records))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_zero_shot(ax, rows: list[dict], seeds: int) -> None:
    """Success of each introduced pair's path (columns, then an untrained network) on each
    never-introduced pair (rows); the rule's pick is boxed."""
    from matplotlib.patches import Rectangle

    sources = list(rows[0]["by_source"])
    matrix = np.array([[r["by_source"][s] for s in sources] + [r["untrained"]] for r in rows])
    ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i, r in enumerate(rows):
        for j, value in enumerate(matrix[i]):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value > 0.5 else "white")
        if r["source"] is not None:
            j = sources.index(r["source"])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(len(sources) + 1), [*sources, "untrained"], rotation=45, fontsize=8)
    ax.set_yticks(range(len(rows)), [r["pair"] for r in rows], fontsize=8)
    ax.set_xlabel("path of")
    ax.set_title(f"zero-shot success ({seeds} seeds; boxed: the rule)", fontsize=9)


def _slot_order(name: str) -> tuple:
    """Network order of µNet slot names: layer0, adapter0w4, …, layer1, …, head."""
    if name == "head":
        return (float("inf"),)
    if name.startswith("layer"):
        return (int(name[5:]), 0, 0)
    layer, width = name[7:].split("w")
    return (int(layer), 1, int(width))
