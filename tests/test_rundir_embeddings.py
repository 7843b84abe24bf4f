"""Run.plot_embeddings: the plotted points are trust.space.project of Run.embed, the default inputs are
the first 1,000 test examples coloured by class, and a figure comes back for a notebook to show."""

from __future__ import annotations

import numpy as np
import pytest

import neuroplast
from neuroplast.errors import UserError
from neuroplast.plots import figure
from neuroplast.trust.space import project


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> neuroplast.Run:
    out = tmp_path_factory.mktemp("embed") / "digits"
    neuroplast.run("digits-mlp", out=out, progress=False, overrides=["train.epochs=1", "train.threads=1"])
    return neuroplast.load(out)


def _points(fig) -> np.ndarray:
    return np.asarray(fig.axes[0].collections[0].get_offsets())


def test_default_map_is_the_projection_of_the_last_hidden_block_of_the_first_test_examples(run) -> None:
    data = run.dataset()
    x, y = data.x_test[:1000], data.y_test[:1000]
    stages = run.embed(x)
    last_hidden = list(stages)[-2]
    assert last_hidden not in ("input", "output")
    fig = run.plot_embeddings()
    assert np.allclose(_points(fig), project(stages[last_hidden])[0].numpy(), atol=1e-5)
    assert np.array_equal(fig.axes[0].collections[0].get_array(), y.numpy())
    assert len(_points(fig)) == min(1000, len(data.x_test))
    assert fig.axes[0].get_xlabel() == "PC 1" and fig.axes[0].get_title().startswith(last_hidden)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [run.class_names[i] for i in sorted(set(y.tolist()))]


def test_a_named_layer_given_inputs_and_an_axes(run) -> None:
    data = run.dataset()
    x = data.x_test[:50]
    ax = figure().subplots()
    fig = run.plot_embeddings(x, y=np.arange(50) % 3, layer="input", ax=ax)
    assert fig is ax.figure
    assert np.allclose(_points(fig), project(run.embed(x, layer="input"))[0].numpy(), atol=1e-5)
    assert np.allclose(project(x.flatten(1).float())[0].numpy(), _points(fig), atol=1e-5)  # input: the raw pixels


def test_wrong_labels_or_layer_are_one_clear_line(run) -> None:
    x = run.dataset().x_test[:20]
    with pytest.raises(UserError, match="y has 3 labels for 20 inputs"):
        run.plot_embeddings(x, y=[0, 1, 2])
    with pytest.raises(UserError, match="not a stage"):
        run.plot_embeddings(x, layer="nope")
