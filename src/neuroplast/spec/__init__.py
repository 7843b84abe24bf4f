"""The typed experiment spec: one TOML file (or Python call) describes data, model, training and the
stages after it. ``sections`` holds data/model/train, ``stages`` the after-training sections, and
``experiment`` the :class:`ExperimentSpec` with the loader and ``--set`` overrides."""

from neuroplast.spec.experiment import (
    CONFIG_DIR,
    DEFAULT_SPEC,
    ExperimentSpec,
    available_specs,
    is_table_file,
    load_spec,
    parse_value,
    resolve_spec_path,
    series_spec,
    spec_from_dict,
    text_spec,
)
from neuroplast.spec.forecast import CANDIDATE_MODELS, SelectSpec
from neuroplast.spec.limits import LimitsSpec, limits_from_env
from neuroplast.spec.sections import (
    FAMILIES,
    AugmentSpec,
    BagSpec,
    CNNSpec,
    CommitteeSpec,
    DataSpec,
    EarlyStoppingSpec,
    HebbianFCSpec,
    HebbianSpec,
    LinearSpec,
    MLPSpec,
    ModelSpec,
    NBeatsSpec,
    PerceptronSpec,
    RecurrentSpec,
    SpecModel,
    TrainSpec,
    TransformerSpec,
)
from neuroplast.spec.stages import (
    ConformalSpec,
    ExplainSpec,
    ExportSpec,
    PruneSpec,
    QuantizeSpec,
    ReportSpec,
    SpaceSpec,
    UncertaintySpec,
    choices,
    section,
)

__all__ = ["CONFIG_DIR", "DEFAULT_SPEC", "FAMILIES", "AugmentSpec", "BagSpec", "CNNSpec", "CommitteeSpec", "ConformalSpec", "ExportSpec", "ReportSpec", "SpaceSpec", "choices", "section", "DataSpec", "EarlyStoppingSpec",
           "ExperimentSpec", "ExplainSpec", "HebbianFCSpec", "HebbianSpec", "LimitsSpec", "limits_from_env", "LinearSpec", "MLPSpec", "NBeatsSpec", "SelectSpec", "CANDIDATE_MODELS",
           "ModelSpec", "PerceptronSpec", "PruneSpec", "QuantizeSpec",
           "RecurrentSpec", "SpecModel", "TrainSpec", "TransformerSpec", "UncertaintySpec", "available_specs", "is_table_file", "text_spec",
           "load_spec", "parse_value", "resolve_spec_path", "series_spec", "spec_from_dict"]
