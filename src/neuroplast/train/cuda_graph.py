"""The whole training step as one CUDA graph: forward, loss, backward and optimizer step, replayed.

A small model on a fast GPU spends most of each step launching kernels from Python, not computing.
Capturing the step once (``torch.cuda.graph``) and replaying it launches them all at once. The graph
reads its batch from fixed input buffers and the learning rate from a device tensor that the
schedule fills in place, so the per-step host work is two copies and one ``fill_`` — no host-device
sync. Adam's betas are constants inside the graph, so a one-cycle schedule cycles only the learning
rate there (not the momentum). Warm-up and capture change the weights, so they are put back in place (same storage, which the
graph refers to) before training starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from neuroplast.errors import UserError


class GraphedStep:
    """``step(xb, yb) -> loss`` for full batches of one shape, replaying a captured CUDA graph.

    Args:
        model, optimizer: the model being trained and its optimizer, made with a tensor learning rate
            and ``capturable=True`` (see :func:`~neuroplast.train.optimizers.make_optimizer`).
        loss_fn: ``loss_fn(model_output, y) -> scalar``.
        x_like, y_like: one batch; fixes the shapes, dtypes and memory layout of the graph's inputs.
        amp_dtype: the autocast dtype, or None.
        grad_clip: clip the gradient norm to this value inside the graph, or None.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 x_like: torch.Tensor, y_like: torch.Tensor, amp_dtype: torch.dtype | None = None,
                 grad_clip: float | None = None, warmup_steps: int = 3) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.amp_dtype, self.grad_clip = amp_dtype, grad_clip
        self.x = x_like.detach().clone()  # keeps the layout (e.g. channels-last)
        self.y = y_like.detach().clone()
        self.loss = torch.zeros((), device=x_like.device)
        model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        opt_state = {p: {k: v.detach().clone() for k, v in s.items() if torch.is_tensor(v)}
                     for p, s in optimizer.state.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # the first steps allocate grads and optimizer state
            for _ in range(warmup_steps):
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(self.graph):
                self._step()
        except RuntimeError as err:
            raise UserError(f"train.cuda_graphs = true could not capture the training step ({err}). "
                            "Set cuda_graphs = false for this model.") from err
        with torch.no_grad():  # undo warm-up and capture, in place: the graph keeps these addresses
            for k, v in model.state_dict().items():
                v.copy_(model_state[k])
            for p, s in optimizer.state.items():
                for k, v in s.items():
                    if not torch.is_tensor(v):
                        continue
                    if p in opt_state:  # resumed: back to the checkpoint's state
                        v.copy_(opt_state[p][k])
                    else:  # fresh: Adam's state starts at zero
                        v.zero_()

    def _step(self) -> None:
        amp = (torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype
               else contextlib.nullcontext())
        with amp:
            loss = self.loss_fn(self.model(self.x), self.y)
        self.optimizer.zero_grad(set_to_none=False)  # the graph owns the gradient buffers
        loss.backward()
        if self.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip, foreach=True)
        self.optimizer.step()
        self.loss.copy_(loss.detach())

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        self.x.copy_(xb)
        self.y.copy_(yb)
        self.graph.replay()
        return self.loss
