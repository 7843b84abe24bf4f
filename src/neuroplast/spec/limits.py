"""Size budgets: what a spec, a run folder or a command may make the process allocate.

Anything that would allocate more than a limit is refused before allocating, in one line that gives
the limit and how to raise it: ``--set limits.KEY=N`` for a spec (training, ``summary``), and the
environment variable ``NEUROPLAST_LIMIT_KEY=N`` for commands that read a run folder (a folder's own
files never raise its limits: they may come from anyone).
"""

from __future__ import annotations

import os

from pydantic import Field, PositiveInt, ValidationError

from neuroplast.errors import UserError
from neuroplast.spec.sections import SpecModel

ENV_PREFIX = "NEUROPLAST_LIMIT_"


class LimitsSpec(SpecModel):
    """The size budget of a run: refused before allocation, never cut short silently."""

    parameters: PositiveInt = Field(100_000_000, description="Most parameters a network built from a spec or "
                                    "a run's model.json may have (100 million: 400 MB of float32).")
    input_values: PositiveInt = Field(16_777_216, description="Most values in one input (the product of an "
                                      "input shape, e.g. 3x2048x2048 = 12.6 million).")
    samples: PositiveInt = Field(1000, description="Most forward passes per prediction (MC dropout samples).")
    tokens: PositiveInt = Field(100_000, description="Most tokens `generate` writes in one call.")
    file_bytes: PositiveInt = Field(2**30, description="Largest run-folder file read (model.json, "
                                    "model.safetensors, checkpoint/last.pt...), in bytes.")

    def refuse(self, key: str, wanted: int | float, what: str, where: str = "") -> None:
        """Raise the one-line error for ``what`` needing ``wanted`` of limit ``key``, if over it."""
        limit = getattr(self, key)
        if wanted > limit:
            raise UserError(f"{where + ': ' if where else ''}{what} needs {wanted:.4g} {key.replace('_', ' ')}, "
                            f"over the limit of {limit:,} (limits.{key}); raise it with --set limits.{key}=N "
                            f"for a spec, or {ENV_PREFIX}{key.upper()}=N for a run folder you trust.")


def limits_from_env(environ: dict[str, str] | None = None) -> LimitsSpec:
    """The limits for reading run folders: the defaults, each raised or lowered by its environment
    variable ``NEUROPLAST_LIMIT_<KEY>`` (e.g. ``NEUROPLAST_LIMIT_PARAMETERS=500000000``)."""
    environ = os.environ if environ is None else environ
    given = {k: environ[ENV_PREFIX + k.upper()] for k in LimitsSpec.model_fields if ENV_PREFIX + k.upper() in environ}
    try:
        return LimitsSpec(**given)
    except ValidationError as e:
        err = e.errors()[0]
        key = ENV_PREFIX + str(err["loc"][0]).upper()
        raise UserError(f"{key}={given.get(str(err['loc'][0]))!r}: {err['msg']}; give a positive whole "
                        "number.") from None
