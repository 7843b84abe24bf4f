"""The typed experiment spec: one TOML file (or Python call) describes data, model and training.

Flow: ``configs/digits-cnn.toml`` -> :func:`load_spec` (with ``--set train.lr=3e-4`` overrides)
-> :class:`ExperimentSpec`; each stage then sees only its own part (``spec.data``, ``spec.model``,
``spec.train``). Unknown keys and wrong types fail here, naming the dotted key and the fix.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import tomli_w
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from neuroplast.errors import UserError, did_you_mean
from neuroplast.spec.forecast import SelectSpec
from neuroplast.spec.limits import LimitsSpec
from neuroplast.spec.sections import (
    FAMILIES,
    CNNSpec,
    DataSpec,
    ModelSpec,
    SpecModel,
    TrainSpec,
)
from neuroplast.spec.stages import ExplainSpec, PruneSpec, QuantizeSpec, SpaceSpec, UncertaintySpec

CONFIG_DIR = Path(__file__).parent.parent / "configs"
DEFAULT_SPEC = "digits-cnn"


class ExperimentSpec(SpecModel):
    """Everything one run needs. Later stages (prune, uncertainty, explain) add optional sections."""

    name: str = Field("experiment", min_length=1, description="Names the run folder runs/<name>-<time>: one "
                      "folder name (no slash or backslash, not '.' or '..').")
    description: str = ""
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds the weights, the batches and (by default) "
                      "the data split; 0 to 4294967295.")
    data: DataSpec = DataSpec()
    model: ModelSpec = CNNSpec()
    train: TrainSpec = TrainSpec()
    uncertainty: UncertaintySpec | None = Field(None, description="Calibrate after training into "
                                                "RUN_DIR/calibrated-METHOD.")
    explain: ExplainSpec | None = Field(None, description="Explain test images after training into "
                                        "RUN_DIR/explain-METHOD.")
    prune: PruneSpec | None = Field(None, description="Prune, fine-tune and measure after training into "
                                    "RUN_DIR/pruned-METHOD.")
    select: SelectSpec | None = Field(None, description="Forecasts: choose the forecaster by rolling-origin "
                                      "validation before the test period (the run's model section is replaced "
                                      "by the chosen candidate's).")
    space: SpaceSpec = Field(SpaceSpec(), description="The vector space stored with a classification run "
                             "(space.safetensors) for the report and the page.")
    quantize: QuantizeSpec | None = Field(None, description="Quantize after training (after pruning when "
                                          "[prune] is given too) into .../quantized-METHOD.")
    limits: LimitsSpec = Field(LimitsSpec(), description="Size budgets, refused before allocating.")

    @field_validator("name")
    @classmethod
    def _name_is_one_folder(cls, value: str) -> str:
        """The run folder's name stays inside runs/: one path component."""
        if "/" in value or "\\" in value or value.strip(".") == "":
            raise PydanticCustomError("name", "one folder name for the run (no slash or backslash, not '.' or "
                                      "'..'), e.g. \"my-experiment\"")
        return value

    @model_validator(mode="after")
    def _bag_reads_ngrams(self) -> ExperimentSpec:
        """Family 'bag' reads hashed n-grams, and only it does: the two keys go together."""
        ngrams = self.data.source == "text-csv" and self.data.tokens == "ngrams"
        if (self.model.family == "bag") != ngrams and (ngrams or self.data.source == "text-csv"):
            fix = ("set data.tokens = 'ngrams'" if self.model.family == "bag"
                   else "set model.family = 'bag', or data.tokens = 'word' for this family")
            raise PydanticCustomError("bag", f"model.family = {self.model.family!r} with data.tokens = "
                                      f"{self.data.tokens!r}: family 'bag' reads the hashed n-grams of "
                                      f"data.tokens = 'ngrams', and only it does; {fix}")
        return self

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.model_dump(mode="json")))

    def updated(self, **changes: Any) -> ExperimentSpec:
        """A copy with nested changes, e.g. ``spec.updated(train={"epochs": 2})``, validated again.

        A change of ``model.family`` replaces the model section instead of merging into it.
        """
        base = self.model_dump(mode="json")
        new_family = changes.get("model", {}).get("family") if isinstance(changes.get("model"), dict) else None
        if new_family and new_family != base["model"]["family"]:
            base["model"] = {}
        return spec_from_dict(_deep_merge(base, changes))


# --------------------------------------------------------------------------- loading
def available_specs() -> list[str]:
    """Names of the shipped example specs (``neuroplast configs``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def resolve_spec_path(spec: str | Path | None) -> Path:
    """A file path, or the name of a shipped spec."""
    if spec is None:
        spec = DEFAULT_SPEC
    path = Path(spec)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{spec}.toml"
    if shipped.is_file():
        return shipped
    if path.is_dir():
        inside = path / "spec.toml"
        raise UserError(f"{path} is a folder; pass a .toml spec file" + (f" such as {inside}." if inside.is_file() else "."))
    if path.suffix.lower() in (".csv", ".tsv", ".toml"):  # meant as a file: say so, not the shipped list
        raise UserError(f"No such file: {path} (looked in {Path.cwd()}). Check the path and its spelling.")
    names = available_specs()
    hint = did_you_mean(str(spec), names)
    raise UserError(f"No spec file or shipped spec named {str(spec)!r}. Shipped specs: {', '.join(names)}.{hint}")


TABLE_SPEC = "csv-table"  # what `neuroplast run FILE.csv --target COLUMN` trains
SERIES_SPEC = "csv-series"  # ... with --column COLUMN: a forecast of that column (series_spec)
TEXT_SPEC = "csv-text"  # ... when the file's only feature column is free text (neuroplast.data.text.text_default)


def is_table_file(spec: str | Path | None) -> bool:
    """Whether ``spec`` names a CSV (or TSV) file to train the table default on, not a spec."""
    return spec is not None and Path(spec).suffix.lower() in (".csv", ".tsv") and Path(spec).is_file()


def load_spec(spec: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentSpec:
    """Read a TOML spec (file or shipped name) and apply dotted ``key=value`` overrides. A CSV file instead
    of a spec trains the shipped ``csv-table`` default on it (``data.target`` names the column to predict),
    in a run named after the file."""
    if is_table_file(spec):
        return _table_spec(Path(str(spec)), overrides)
    path = resolve_spec_path(spec)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"Spec file {path} is not valid TOML: {e}. Fix the syntax at that line.") from None
    except UnicodeDecodeError as e:
        raise UserError(f"Spec file {path} is not UTF-8 text (byte {e.object[e.start]:#04x} at position {e.start}); "
                        "save it as UTF-8 TOML.") from None
    for section, key in (("data", "dir"), ("data", "test_dir"), ("data", "path"), ("train", "init_from")):
        part = raw.get(section)  # relative paths in a spec file are relative to that file
        if isinstance(part, dict) and isinstance(part.get(key), str) and not Path(part[key]).is_absolute():
            part[key] = str(path.parent / part[key])
    return _validated(raw, overrides, str(path))


def _table_spec(csv: Path, overrides: list[str] | tuple[str, ...]) -> ExperimentSpec:
    """The shipped table default for a CSV file, named after it; the column to predict must be given."""
    raw = tomllib.loads((CONFIG_DIR / f"{TABLE_SPEC}.toml").read_text())
    raw.update(name=csv.stem, description=f"{TABLE_SPEC} on {csv.name}")
    raw["data"]["path"] = str(csv.resolve())
    spec = _validated(raw, overrides, str(csv))
    if spec.data.target is None:
        with open(csv, encoding="utf-8", errors="replace") as f:
            header = f.readline().strip()
        raise UserError(f"{csv}: name the column to predict: --target COLUMN (or --set data.target=COLUMN); "
                        f"the header reads: {header[:200]}")
    return spec


def text_spec(csv: Path, text_column: str, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentSpec:
    """The shipped text default (``csv-text``) on one column of texts of a CSV file, named after the file;
    ``overrides`` as for :func:`load_spec` (``data.target=COLUMN`` among them)."""
    raw = tomllib.loads((CONFIG_DIR / f"{TEXT_SPEC}.toml").read_text())
    raw.update(name=csv.stem, description=f"{TEXT_SPEC} on {csv.name}, column {text_column!r}")
    raw["data"].update(path=str(csv.resolve()), text_column=text_column)
    return _validated(raw, overrides, str(csv))


def series_spec(csv: Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentSpec:
    """The shipped series default (``csv-series``) on one column of a CSV file (``data.column=C`` among
    ``overrides``), named after the file. An override of ``model.family`` drops the ``[select]``
    section: whoever names a family gets that family."""
    raw = tomllib.loads((CONFIG_DIR / f"{SERIES_SPEC}.toml").read_text())
    raw.update(name=csv.stem, description=f"{SERIES_SPEC} on {csv.name}")
    raw["data"]["path"] = str(csv.resolve())
    if any(item.split("=", 1)[0].strip() == "model.family" for item in overrides):
        raw.pop("select")
    return _validated(raw, overrides, str(csv))


def _validated(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], source: str) -> ExperimentSpec:
    for item in overrides:
        _apply_override(raw, item)
    try:
        return ExperimentSpec.model_validate(raw)
    except ValidationError as e:  # blame the --set that gave the bad value, not the file it changed
        key = ".".join(str(p) for p in e.errors()[0]["loc"] if not (isinstance(p, str) and p in FAMILIES))
        given = [item for item in overrides if item.split("=", 1)[0].strip() == key]
        # a check across a section's keys ('model') blames the --set that changed a key of that section
        given = given or [item for item in overrides if item.split("=", 1)[0].strip().startswith(f"{key}.")]
        raise UserError(_one_line(e, raw, f"--set {given[-1]}" if given else source)) from None


def spec_from_dict(raw: dict[str, Any], source: str = "spec") -> ExperimentSpec:
    try:
        return ExperimentSpec.model_validate(raw)
    except ValidationError as e:
        raise UserError(_one_line(e, raw, source)) from None


def parse_value(text: str) -> Any:
    """A TOML value (``3e-4``, ``true``, ``[64, 32]``, ``"adam"``), or the bare text as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as e:
        if text.lstrip()[:1] in ("[", "{", '"', "'"):  # meant as a list, table or string: say why it is not one
            raise UserError(f"--set value {text!r} is not valid TOML ({e}); e.g. [32, 64], {{ shift = 2 }} or "
                            "\"adam\".") from None
        return text


def _apply_override(raw: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise UserError(f"--set expects KEY=VALUE (e.g. train.lr=3e-4); received {item!r}.")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    _check_key(parts, raw, item)
    value = parse_value(text.strip())
    if parts == ["model", "family"] and raw.get("model", {}).get("family", "cnn") != value:
        raw["model"] = {}  # another family: the old family's keys do not apply
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {item!r}: {part!r} is not a section.")
    node[parts[-1]] = value


def _check_key(parts: list[str], raw: dict[str, Any], item: str) -> None:
    """Reject ``--set`` on a key that the schema does not have, suggesting the nearest."""
    cls: type[BaseModel] = ExperimentSpec
    node: Any = raw
    for depth, part in enumerate(parts):
        fields = list(cls.model_fields)
        if part not in fields:
            where = ".".join(parts[:depth]) or "the spec"
            hint = did_you_mean(part, fields, "".join(f"{p}." for p in parts[:depth]))
            raise UserError(f"--set {item!r}: {where} has no key {part!r}.{hint} Known: {', '.join(fields)}.")
        sub = _model_class(cls, part, node.get(part) if isinstance(node, dict) else None)
        if sub is None:
            if depth != len(parts) - 1:
                raise UserError(f"--set {item!r}: {'.'.join(parts[: depth + 1])} is a value, not a section.")
            return
        cls, node = sub, (node.get(part, {}) if isinstance(node, dict) else {})


def _model_class(cls: type[BaseModel], name: str, value: Any) -> type[BaseModel] | None:
    """The spec class of field ``name`` (picking the model family from ``value``), or None for a leaf."""
    annotation = cls.model_fields[name].annotation
    candidates = [a for a in _flatten(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    family = value.get("family", "cnn") if isinstance(value, dict) else "cnn"
    for c in candidates:
        if family in get_args(c.model_fields["family"].annotation):
            return c
    return candidates[0]


def _flatten(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Annotated:
        return _flatten(get_args(annotation)[0])
    if get_origin(annotation) in (Union, __import__("types").UnionType):
        return [x for a in get_args(annotation) for x in _flatten(a)]
    return [annotation]


def _one_line(error: ValidationError, raw: dict[str, Any], source: str) -> str:
    err = error.errors()[0]
    loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and p in FAMILIES)]
    key = ".".join(loc)
    if err["type"] == "extra_forbidden":
        cls: type[BaseModel] = ExperimentSpec
        node: Any = raw
        for part in loc[:-1]:
            sub = _model_class(cls, part, node.get(part) if isinstance(node, dict) else None)
            if sub is None:
                break
            cls, node = sub, node.get(part, {}) if isinstance(node, dict) else {}
        fields = list(cls.model_fields)
        hint = did_you_mean(loc[-1], fields, "".join(f"{p}." for p in loc[:-1]))
        return f"{source}: unknown key {key!r}.{hint} Known keys here: {', '.join(fields)}."
    if err["type"] == "union_tag_invalid":
        return (f"{source}: unknown model family {err['input'].get('family')!r} at {key or 'model'}.family; "
                f"expected one of: {', '.join(FAMILIES)}.")
    if not loc:  # a check across sections: its message names the keys
        return f"{source}: {err['msg']}."
    received = err.get("input")
    return f"{source}: invalid value for {key!r}: {err['msg']}. Received {received!r}."


def _drop_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_none(v) for v in d]
    return d


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
