"""Out-of-distribution scores: AUROC/FPR and the Mahalanobis density by construction."""

from __future__ import annotations

import torch
from torch import nn


def test_ood_metrics_and_mahalanobis_by_construction() -> None:
    from neuroplast.trust import Mahalanobis, ood_metrics  # the public names

    assert ood_metrics(torch.tensor([0.1, 0.2]), torch.tensor([0.8, 0.9])) == {"auroc": 1.0, "fpr_at_95_tpr": 0.0}
    assert ood_metrics(torch.tensor([0.8, 0.9]), torch.tensor([0.1, 0.2]))["auroc"] == 0.0
    # identity features: two tight classes at (+3, 0) and (-3, 0); (0, 8) is far from both
    model = nn.Sequential(nn.Identity(), nn.Linear(2, 2))
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(200, 2, generator=g) * 0.3 + torch.tensor([3.0, 0.0]),
                   torch.randn(200, 2, generator=g) * 0.3 - torch.tensor([3.0, 0.0])])
    y = torch.cat([torch.zeros(200), torch.ones(200)]).long()
    maha = Mahalanobis().fit(model, x, y)
    near, far = maha.score(torch.tensor([[3.0, 0.0], [-3.1, 0.1]])), maha.score(torch.tensor([[0.0, 8.0]]))
    assert near.max() < 1.0 and far.item() > 100
