"""Trust: can a prediction be believed, and what is it based on."""

from neuroplast.trust.explain import (
    METHODS,
    Attribution,
    DeletionCurve,
    Importance,
    attribute,
    deletion_curve,
    feature_maps,
    first_layer_filters,
    permutation_importance,
    randomization_test,
    receptive_fields,
    save_heatmap,
)

__all__ = [
    "METHODS",
    "Attribution",
    "DeletionCurve",
    "Importance",
    "attribute",
    "deletion_curve",
    "feature_maps",
    "first_layer_filters",
    "permutation_importance",
    "randomization_test",
    "receptive_fields",
    "save_heatmap",
]
