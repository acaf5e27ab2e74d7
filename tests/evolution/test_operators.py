"""PathNet's genotype operators on constructed populations: tournament, mutation rates and offsets, edges."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from agents.evolution.genotype import Genotype, derive_seed, mutate, pair_up, tournament


def test_tournament_copies_the_winner_over_the_loser():
    population = [Genotype(((0, 1), (2, 3))), Genotype(((4, 5), (6, 7))), Genotype(((8, 9), (0, 0)))]
    rng = random.Random(0)
    winner, loser = tournament(population, 0, 1, fitness_a=0.2, fitness_b=0.9, modules=10, rate=0.0, rng=rng)
    assert (winner, loser) == (1, 0)
    assert population[0] == population[1] == Genotype(((4, 5), (6, 7)))
    assert population[2] == Genotype(((8, 9), (0, 0)))  # outside the tournament: untouched


def test_a_tie_goes_to_the_first():
    population = [Genotype(((1,),)), Genotype(((2,),))]
    assert tournament(population, 0, 1, 0.5, 0.5, 10, 0.0, random.Random(0)) == (0, 1)
    assert population[1] == Genotype(((1,),))


def test_mutation_rate_and_offsets_hold_statistically():
    # interior genes (far from the edges): each offset in [-2, 2] has probability rate / 5
    layers, active, modules = 3, 3, 100
    rate = 1 / (active * layers)
    parent = Genotype(tuple(tuple([50] * active) for _ in range(layers)))
    rng = random.Random(1)
    offsets = Counter()
    trials = 4000
    for _ in range(trials):
        child = mutate(parent, modules, rate, rng)
        offsets.update(g - 50 for layer in child.genes for g in layer)
    genes = trials * layers * active
    assert set(offsets) <= {-2, -1, 0, 1, 2}
    for offset in (-2, -1, 1, 2):
        assert offsets[offset] / genes == pytest.approx(rate / 5, abs=0.004)
    assert offsets[0] / genes == pytest.approx(1 - rate + rate / 5, abs=0.006)


@pytest.mark.parametrize("boundary, start, expected", [
    ("clamp", 0, {0: 3 / 5, 1: 1 / 5, 2: 1 / 5}),
    ("clamp", 9, {9: 3 / 5, 8: 1 / 5, 7: 1 / 5}),
    ("wrap", 0, {8: 1 / 5, 9: 1 / 5, 0: 1 / 5, 1: 1 / 5, 2: 1 / 5}),
])
def test_edges_clamp_or_wrap(boundary, start, expected):
    rng = random.Random(2)
    seen = Counter(mutate(Genotype(((start,),)), 10, 1.0, rng, boundary=boundary).genes[0][0] for _ in range(5000))
    assert set(seen) == set(expected)
    for value, p in expected.items():
        assert seen[value] / 5000 == pytest.approx(p, abs=0.03)


def test_genes_may_repeat_and_the_path_runs_the_distinct_modules():
    genotype = Genotype(((3, 3, 1), (0, 2, 0)))
    assert genotype.path((4,)).choices == ((1, 3), (0, 2), (4,))
    assert Genotype.from_dict(genotype.to_dict()) == genotype
    with pytest.raises(ValueError, match="boundary"):
        mutate(genotype, 5, 0.5, random.Random(0), boundary="bounce")


def test_pairs_are_disjoint_and_seeds_are_stable():
    pairs = pair_up(10, 5, random.Random(3))
    assert sorted(i for p in pairs for i in p) == list(range(10))
    with pytest.raises(ValueError, match="population of at least"):
        pair_up(3, 2, random.Random(0))
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3) != derive_seed(1, 2, 4)
