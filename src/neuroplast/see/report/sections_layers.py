"""The sections that look inside the network: first-layer filters and feature maps, receptive fields
and attention maps."""

from __future__ import annotations

from collections.abc import Callable

import torch

from neuroplast.errors import UserError
from neuroplast.see.pictures import file_uri, grid, image, png
from neuroplast.see.report.context import Context
from neuroplast.see.report.render import Block, Section, decode, figure, note

MIN_MAP_SIDE = 4  # feature maps smaller than this (2x2 after two poolings of 8x8 digits) are not drawn


def _layers(ctx: Context) -> Section | None:
    """First-layer filters and feature maps (CNN), or first-layer weights as images (MLP)."""
    if ctx.run is None or not ctx.is_image:
        return None
    from torch import nn

    from neuroplast.trust import feature_maps, first_layer_filters, receptive_fields

    model, s = ctx.run.model, Section("layers", ctx.t("report.layers"))
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        w = first_layer_filters(model)[:64]
        s.blocks.append(figure(png(grid([f[0] for f in w], pad=1), size=256),
                               ctx.t("report.filters_caption", count=len(w)),
                               ctx.t("report.filters_alt"), pixelated=True))
        if (xy := ctx.split()) is not None:
            maps = list(feature_maps(model, xy[0][:1]).items())[:4]
            shown = [(name, a) for name, a in maps if min(a.shape[-2:]) >= MIN_MAP_SIDE]
            items = [figure(png(grid(list(a[0, :16].float()), pad=1), cmap="viridis", size=200),
                            ctx.t("report.feature_map_caption", layer=name, count=min(16, a.shape[1])),
                            ctx.t("report.feature_map_alt"), pixelated=True) for name, a in shown]
            s.blocks += [figure(png(image(xy[0][0])), ctx.t("report.feature_map_input"), ctx.t("report.sample_alt"),
                                pixelated=True),
                         {"kind": "gallery", "items": items, "id": "feature-maps", "wide": True}]
            if small := [f"{name} ({a.shape[-2]}×{a.shape[-1]})" for name, a in maps if min(a.shape[-2:]) < MIN_MAP_SIDE]:
                s.blocks.append(note(ctx.t("report.feature_maps_small", layers=", ".join(small), side=MIN_MAP_SIDE)))
    elif not any(isinstance(m, (nn.RNNBase, nn.Embedding, nn.MultiheadAttention)) for m in model.modules()):
        try:
            fields = receptive_fields(model, tuple(ctx.info["input_shape"]))[:64]
        except UserError:
            return None
        s.blocks.append(figure(png(grid([f[0] for f in fields], pad=1), cmap="RdBu_r", size=320, symmetric=True),
                               ctx.t("report.mlp_fields_caption", count=len(fields)), ctx.t("report.filters_alt"),
                               pixelated=True))
    return s if s.blocks else None


def _receptive_fields(ctx: Context) -> Section | None:
    """A Hebbian layer's fields after learning, beside the same units' random initial weights, and how
    far the weights moved in each epoch."""
    saved = ctx.dir / "receptive_fields.png"
    if not saved.is_file():
        return None
    blocks = [figure(file_uri(saved), ctx.t("report.receptive_fields_caption"), ctx.t("report.receptive_fields"))]
    initial = ctx.dir / "receptive_fields_initial.png"
    if initial.is_file():
        blocks.append(figure(file_uri(initial), ctx.t("report.receptive_fields_initial_caption"),
                             ctx.t("report.receptive_fields")))
    moved = [(row.get("epoch", i + 1), row["hebbian_change"]) for i, row in enumerate(ctx.history)
             if isinstance(row.get("hebbian_change"), (int, float))]
    if moved:
        last = max((i for i, (_, c) in enumerate(moved) if c != 0), default=-1)  # after it: the layer is fixed
        values = ", ".join(f"{e}: {c:.3g}" for e, c in moved[:last + 1])
        if last + 1 < len(moved):
            values = ", ".join(v for v in (values, ctx.t("report.hebbian_fixed", epoch=moved[last + 1][0])) if v)
        blocks.append(note(ctx.t("report.hebbian_change", values=values)))
    return Section("receptive-fields", ctx.t("report.receptive_fields"), blocks)


def _attention(ctx: Context) -> Section | None:
    """Per layer, the attention weights of one input averaged over the heads."""
    from neuroplast.models.transformer import Transformer

    if ctx.run is None or not isinstance(ctx.run.model, Transformer) or (xy := ctx.split()) is None:
        return None
    x = xy[0][:1]
    if x.ndim == 3 and ctx.info.get("vocab_size"):
        x = x[:, -1]  # a long text in blocks: its last block
    if ctx.info.get("vocab_size"):
        x = x[:, -64:]  # a readable map: the last 64 tokens
    with torch.no_grad():
        _, maps = ctx.run.model.eval()(x, return_attention=True)
    items = [figure(png(a[0].mean(0).float(), cmap="viridis", size=256),
                    ctx.t("report.attention_caption", layer=i + 1, heads=a.shape[1]), ctx.t("report.attention"),
                    pixelated=True) for i, a in enumerate(maps[:6])]
    blocks: list[Block] = [{"kind": "gallery", "items": items, "id": "attention-maps", "wide": True},
                           note(ctx.t("report.attention_note"))]
    if ctx.preprocess.get("kind") == "text":
        blocks.insert(0, {"kind": "pre", "text": decode(ctx.preprocess, x[0])})
    elif ctx.is_image:  # image rows are the positions
        blocks.insert(0, figure(png(image(x[0])), ctx.t("report.attention_input"), ctx.t("report.sample_alt"),
                                pixelated=True))
    return Section("attention", ctx.t("report.attention"), blocks)


SECTIONS: list[Callable[[Context], Section | None]] = [_layers, _receptive_fields, _attention]
