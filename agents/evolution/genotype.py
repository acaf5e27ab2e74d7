"""PathNet's genotype and its operators: random initialisation, mutation, binary tournament.

A genotype is the paper's L × N matrix of module indices in [0, M): N genes per layer. Genes of a
layer may repeat a module; the layer's active modules (the phenotype, a `Path`) are the distinct
ones, so a layer has at most N active modules and a repeated gene counts once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from modrl import Path

BOUNDARIES = ("clamp", "wrap")


@dataclass(frozen=True)
class Genotype:
    """`genes[layer]`: the N module indices of that layer (repeats allowed)."""

    genes: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        genes = tuple(tuple(int(g) for g in layer) for layer in self.genes)
        if not genes or any(len(layer) == 0 for layer in genes):
            raise ValueError(f"a genotype needs at least one gene per layer, got {genes}")
        if any(g < 0 for layer in genes for g in layer):
            raise ValueError(f"genes must be module indices >= 0, got {genes}")
        object.__setattr__(self, "genes", genes)

    @classmethod
    def random(cls, layers: int, modules: int, active: int, rng: random.Random) -> "Genotype":
        """Every gene uniform in [0, modules), independently (so a layer may repeat a module)."""
        return cls(tuple(tuple(rng.randrange(modules) for _ in range(active)) for _ in range(layers)))

    def path(self, *tail: tuple[int, ...]) -> Path:
        """The phenotype: each layer's distinct modules, then `tail` (e.g. the task's head, `(task,)`)."""
        return Path(tuple(tuple(sorted(set(layer))) for layer in self.genes) + tuple(tail))

    def modules(self) -> list[set[int]]:
        """The distinct modules each layer uses."""
        return [set(layer) for layer in self.genes]

    def to_dict(self) -> dict:
        return {"genes": [list(layer) for layer in self.genes]}

    @classmethod
    def from_dict(cls, data: dict) -> "Genotype":
        return cls(tuple(tuple(layer) for layer in data["genes"]))


def mutate(genotype: Genotype, modules: int, rate: float, rng: random.Random, spread: int = 2,
           boundary: str = "clamp") -> Genotype:
    """Each gene, with probability `rate`, moves by an integer offset uniform in [-spread, spread]
    (0 included, as in the authors' code); "clamp" keeps it in [0, modules - 1], "wrap" takes it
    modulo `modules` (what `Path.mutate` does)."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; valid: {list(BOUNDARIES)}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mutation rate must be in [0, 1], got {rate}")

    def move(g: int) -> int:
        if rng.random() >= rate:
            return g
        g += rng.randint(-spread, spread)
        return min(max(g, 0), modules - 1) if boundary == "clamp" else g % modules

    return Genotype(tuple(tuple(move(g) for g in layer) for layer in genotype.genes))


def pair_up(population: int, tournaments: int, rng: random.Random) -> list[tuple[int, int]]:
    """`tournaments` disjoint pairs of population indices, uniformly at random."""
    if 2 * tournaments > population:
        raise ValueError(f"{tournaments} disjoint tournaments need a population of at least {2 * tournaments}, "
                         f"got {population}")
    picked = rng.sample(range(population), 2 * tournaments)
    return [(picked[2 * i], picked[2 * i + 1]) for i in range(tournaments)]


def tournament(population: list[Genotype], a: int, b: int, fitness_a: float, fitness_b: float, modules: int,
               rate: float, rng: random.Random, spread: int = 2, boundary: str = "clamp") -> tuple[int, int]:
    """Binary tournament in place: the loser's genotype becomes a mutated copy of the winner's.
    A tie goes to `a`. Returns (winner, loser)."""
    winner, loser = (a, b) if fitness_a >= fitness_b else (b, a)
    population[loser] = mutate(population[winner], modules, rate, rng, spread, boundary)
    return winner, loser


def derive_seed(*keys: int) -> int:
    """A 32-bit seed from integers such as (seed, task, generation, index): the same on every worker."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])
