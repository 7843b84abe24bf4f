"""Pruning's defaults chosen from the sparsity asked (PruneSpec.resolved): the measured recipe from 90%."""

from __future__ import annotations

from neuroplast.spec import PruneSpec


def test_high_sparsity_gets_the_recipe_that_kept_lenet_300_100_within_a_tenth_of_a_point() -> None:
    # benchmarks/RESULTS.md: --schedule gradual --rounds 16 --epochs 2 --final-epochs 30 --distill 0.5 --scope erk
    # on a parent trained for 15 epochs.
    full = PruneSpec(sparsity=0.96).resolved(classifier=True, train_epochs=15)
    assert (full.schedule, full.rounds, full.epochs, full.final_epochs, full.scope, full.distill) == \
        ("gradual", 16, 2, 30, "erk", 0.5)


def test_networks_with_convolutions_get_the_recipe_that_kept_lenet5_within_a_tenth_of_a_point() -> None:
    # benchmarks/RESULTS.md: --schedule gradual --sparsity 0.95 --rounds 8 --epochs 3 --scope lamp (10-epoch parent)
    full = PruneSpec(sparsity=0.95).resolved(classifier=True, train_epochs=10, convolutional=True)
    assert (full.schedule, full.rounds, full.epochs, full.final_epochs, full.scope, full.distill) == \
        ("gradual", 8, 3, 10, "lamp", 0.0)


def test_what_the_user_gives_is_kept_and_regressors_are_not_distilled() -> None:
    full = PruneSpec(sparsity=0.95, scope="lamp", rounds=8, epochs=3).resolved(classifier=False, train_epochs=10)
    assert (full.schedule, full.rounds, full.epochs, full.final_epochs, full.scope, full.distill) == \
        ("gradual", 8, 3, 20, "lamp", 0.0)
    explicit = PruneSpec(sparsity=0.96, schedule="one-shot", distill=0.0).resolved(True, 15)
    assert (explicit.schedule, explicit.rounds, explicit.distill, explicit.scope) == ("one-shot", None, 0.0, "erk")


def test_below_90_percent_and_structured_keep_the_plain_defaults() -> None:
    for spec in (PruneSpec(sparsity=0.5), PruneSpec(method="structured", sparsity=0.95)):
        full = spec.resolved(classifier=True, train_epochs=15)
        assert (full.schedule, full.rounds, full.final_epochs, full.scope, full.distill) == \
            ("one-shot", None, 15, "global", 0.0)
    assert PruneSpec(sparsity=0.5, rounds=3).resolved(True, 15).schedule == "gradual"  # rounds imply a schedule
