"""The vector space: representations per block, the 2-D projection and k-NN separability, against hand
computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from neuroplast.models.cnn import CNN
from neuroplast.models.mlp import MLP
from neuroplast.trust.space import knn_accuracy, project, representations


def test_representations_are_the_input_each_block_and_the_output() -> None:
    torch.manual_seed(0)
    mlp = MLP(6, 3, hidden=(5, 4))
    x = torch.randn(7, 6)
    stages = representations(mlp, x, batch_size=3)  # batches joined in order
    assert list(stages) == ["input", "layers.2", "layers.4", "output"]
    h1 = torch.relu(mlp.layers[1](x))
    torch.testing.assert_close(stages["layers.2"], h1)
    torch.testing.assert_close(stages["layers.4"], torch.relu(mlp.layers[3](h1)))
    torch.testing.assert_close(stages["output"], mlp(x).detach())
    cnn = CNN((1, 8, 8), 10, channels=(4, 6), hidden=(12,))
    shapes = {k: tuple(v.shape) for k, v in representations(cnn, torch.randn(5, 1, 8, 8)).items()}
    assert shapes["input"] == (5, 64) and shapes["output"] == (5, 10)
    assert sorted(shapes.values())[1:-1] == sorted([(5, 4 * 4 * 4), (5, 6 * 2 * 2), (5, 12)])  # 2 pools, 1 hidden


def test_the_projection_is_scikit_learns_pca_and_places_new_vectors() -> None:
    rng = np.random.default_rng(1)
    v = torch.from_numpy(rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6)))
    coords, params = project(v)
    ours = coords.double().numpy()
    theirs = PCA(2).fit_transform(v.numpy())
    for j in range(2):  # the same axes, up to each one's sign
        np.testing.assert_allclose(np.abs(ours[:, j]), np.abs(theirs[:, j]), atol=1e-5)
    new = (v[:3] - torch.tensor(params["mean"], dtype=v.dtype)) @ torch.tensor(params["components"], dtype=v.dtype).T
    np.testing.assert_allclose(new.numpy(), ours[:3], atol=1e-5)


def test_knn_accuracy_is_leave_one_out_k_nearest_neighbours() -> None:
    rng = np.random.default_rng(2)
    v, y = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    v[y == 1] += 1.5
    expected = np.mean([KNeighborsClassifier(5).fit(np.delete(v, i, 0), np.delete(y, i)).predict(v[i:i + 1])[0] == y[i]
                        for i in range(60)])
    assert abs(knn_accuracy(torch.from_numpy(v), torch.from_numpy(y)) - expected) < 1e-9
