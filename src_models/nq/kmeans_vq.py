"""The classical baseline: k-means vector quantization of z-scored P-frame patches.

Every patch is replaced by the nearest of ``n_codes`` k-means centroids: no
context, no neural network. :class:`KMeansVQ` has NQ's ``config`` / ``encode`` /
``decode`` interface, so :func:`~src_models.nq.tokenize.tokenize_traces` scores
it exactly like NQ.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from src_models.errors import CalmError
from src_models.nq.config import NQConfig


def kmeans_centroids(patches: np.ndarray, n_codes: int, seed: int = 0) -> np.ndarray:
    """``(n_codes, P)`` k-means centroids of ``(M, P)`` patches (one k-means++ start)."""
    from sklearn.cluster import KMeans

    if len(patches) < n_codes:
        raise CalmError(f"k-means needs at least {n_codes} patches, got {len(patches)}")
    km = KMeans(n_clusters=n_codes, n_init=1, random_state=seed, max_iter=100)
    return km.fit(np.asarray(patches, np.float32)).cluster_centers_.astype(np.float32)


class KMeansVQ(nn.Module):
    """k-means codebook over z-scored patches.

    Parameters
    ----------
    centroids : ndarray
        ``(K, P)`` patch centroids.
    window : int
        Frames per call when used through ``tokenize_traces`` (batching only;
        patches are coded independently).
    """

    def __init__(self, centroids: np.ndarray, window: int = 64) -> None:
        super().__init__()
        K, P = centroids.shape
        self.config = NQConfig(patch_len=int(P), window=int(window) // int(P) * int(P),
                               codebook_size=int(K), code_dim=int(P))
        self.register_buffer("centroids", torch.as_tensor(np.asarray(centroids, np.float32)))

    @classmethod
    def fit(
        cls,
        traces: list[np.ndarray],
        n_codes: int = 512,
        patch_len: int = 8,
        seed: int = 0,
        max_patches: int = 200_000,
        window: int = 64,
    ) -> KMeansVQ:
        """Fit the codebook on patches of z-scored ``(N, T)`` arrays.

        Parameters
        ----------
        traces : list of ndarray
            Z-scored training traces (e.g. ``TrainingSource.traces``).
        n_codes, patch_len : int
            Codebook size K and frames per patch P.
        seed : int
            Seed of the patch subsample and of k-means.
        max_patches : int
            Patches drawn (uniformly, without replacement) for fitting.
        window : int
            See the class parameters.
        """
        patches = [t[:, : t.shape[1] // patch_len * patch_len].reshape(-1, patch_len) for t in traces]
        X = np.concatenate(patches).astype(np.float32)
        rng = np.random.default_rng(seed)
        if len(X) > max_patches:
            X = X[rng.choice(len(X), max_patches, replace=False)]
        return cls(kmeans_centroids(X, n_codes, seed), window)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest-centroid indices ``(B, L // P)`` of z-scored frames ``(B, L)``."""
        P = self.config.patch_len
        patches = x.reshape(x.shape[0], -1, P)
        c = self.centroids
        dist = (patches**2).sum(-1, keepdim=True) - 2 * patches @ c.t() + (c**2).sum(-1)
        return dist.argmin(-1)

    def decode(self, idx: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, n·P)`` of indices ``(B, n)``."""
        return self.centroids[idx].reshape(idx.shape[0], -1)
