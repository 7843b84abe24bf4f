"""The parameter count of a network before it is built: the family's own builder run on the ``meta``
device (shapes only, no memory), so a spec or model.json asking for billions of weights is refused
before a byte is allocated."""

from __future__ import annotations

from typing import Any

import torch

from neuroplast.errors import UserError
from neuroplast.models.base import build_model, count_parameters


def parameters_of(spec: Any, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
                  vocab_size: int = 0) -> int:
    """How many parameters ``build_model`` would make, counted without allocating them."""
    try:
        with torch.device("meta"):
            return count_parameters(build_model(spec, input_shape, num_outputs, task, vocab_size))
    except UserError:
        raise
    except (RuntimeError, ValueError, TypeError, OverflowError, NotImplementedError) as e:
        raise UserError(f"model {getattr(spec, 'family', '?')!r} cannot be built for inputs of shape "
                        f"{tuple(input_shape)} and {num_outputs} outputs ({str(e).splitlines()[0][:160]}); "
                        "check the model section's sizes.") from None


def check_parameters(spec: Any, input_shape: tuple[int, ...], num_outputs: int, task: str, vocab_size: int,
                     limit: int, where: str, raise_with: str) -> int:
    """:func:`parameters_of`, refused in one line above ``limit`` (``raise_with`` says how to raise it)."""
    wanted = parameters_of(spec, input_shape, num_outputs, task, vocab_size)
    if wanted > limit:
        raise UserError(f"{where}: the {spec.family} network would have {wanted:,} parameters, over the limit of "
                        f"{limit:,}; make it smaller, or raise the limit with {raise_with}.")
    return wanted
