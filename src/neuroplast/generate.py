"""Sampling text from a character-level language model, one character at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from neuroplast.errors import UserError

if TYPE_CHECKING:
    from neuroplast.rundir import Run

# torch and the run folder are imported inside the functions: ``neuroplast.generate`` is imported with the
# package (it names both this module and its function), and ``neuroplast --help`` must not load torch.


def generate(run: Run | str | Path, prompt: str, tokens: int = 200, temperature: float = 1.0, top_k: int | None = None,
             seed: int | None = 0) -> str:
    """Continue ``prompt`` by ``tokens`` characters sampled from the run's language model.

    ``run`` is a :class:`~neuroplast.Run` or the path of its run folder.

    Each step feeds the last ``block_size`` characters, divides the last position's logits by
    ``temperature`` (lower: safer, more repetitive), keeps the ``top_k`` most likely characters if
    given, and samples from the softmax. The same ``seed`` gives the same text.

    Example:
        >>> text = neuroplast.generate("runs/shakespeare-lstm-...", "ROMEO:", tokens=300)
    """
    return prompt + "".join(generate_stream(run, prompt, tokens, temperature, top_k, seed))


def generate_stream(run: Run | str | Path, prompt: str, tokens: int = 200, temperature: float = 1.0, top_k: int | None = None,
                    seed: int | None = 0) -> Iterator[str]:
    """:func:`generate`, one character at a time (without the prompt): for a page that streams text."""
    import torch

    from neuroplast.data.inputs import encode_chars
    from neuroplast.rundir import load
    from neuroplast.spec import limits_from_env

    if isinstance(run, (str, Path)):
        run = load(run)
    pre = run.preprocess
    if pre.get("kind") != "text" or pre.get("mode") != "chars":
        raise UserError("generate needs a character language model (data.source = 'text'); this run is a "
                        f"{run.info['task']} model.")
    if tokens < 0:
        raise UserError(f"--tokens must be 0 or more (characters to generate); received {tokens}.")
    limits_from_env().refuse("tokens", tokens, f"--tokens {tokens}", "generate")
    if not 0 < temperature < float("inf"):  # NaN fails this too
        raise UserError(f"--temperature must be a finite number > 0 (1.0: the model's own distribution); "
                        f"received {temperature}.")
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be at least 1; received {top_k}.")
    vocab = pre["vocab"]
    ids = encode_chars(prompt, vocab) if prompt else torch.zeros(1, dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    model = run.model.eval()
    out = ids.tolist()
    for _ in range(tokens):
        with torch.inference_mode():
            context = torch.tensor(out[-pre["block_size"]:])[None]
            logits = model(context)[0, -1].float() / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, len(logits))).values[-1]
                logits[logits < kth] = -float("inf")
            out.append(int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)))
        yield vocab[out[-1]]
