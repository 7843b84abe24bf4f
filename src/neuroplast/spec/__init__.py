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
    spec_from_dict,
    text_spec,
)
from neuroplast.spec.limits import LimitsSpec, limits_from_env
from neuroplast.spec.sections import (
    FAMILIES,
    AugmentSpec,
    BagSpec,
    CNNSpec,
    DataSpec,
    EarlyStoppingSpec,
    HebbianSpec,
    LinearSpec,
    MLPSpec,
    ModelSpec,
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
    UncertaintySpec,
    choices,
    section,
)

__all__ = ["CONFIG_DIR", "DEFAULT_SPEC", "FAMILIES", "AugmentSpec", "BagSpec", "CNNSpec", "ConformalSpec", "ExportSpec", "ReportSpec", "choices", "section", "DataSpec", "EarlyStoppingSpec",
           "ExperimentSpec", "ExplainSpec", "HebbianSpec", "LimitsSpec", "limits_from_env", "LinearSpec", "MLPSpec",
           "ModelSpec", "PerceptronSpec", "PruneSpec", "QuantizeSpec",
           "RecurrentSpec", "SpecModel", "TrainSpec", "TransformerSpec", "UncertaintySpec", "available_specs", "is_table_file", "text_spec",
           "load_spec", "parse_value", "resolve_spec_path", "spec_from_dict"]
