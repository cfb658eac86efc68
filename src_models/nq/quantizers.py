"""The two codebooks NQ can use: Gumbel-Softmax (CalM's) and plain EMA VQ (the ablation).

Both map encoder features ``(B, n, d_model)`` and raw patches ``(B, n, P)`` to code vectors
``(B, n, D)``, one-hot choices and indices ``(B, n)`` plus weighted auxiliary losses. A code is a
vector ``c_k`` (D) plus a P-frame template ``w_k`` that the decoder adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class QuantizerOutput:
    """Result of quantizing a batch of features.

    Attributes
    ----------
    z : Tensor
        ``(B, n, D)`` code vectors of the chosen codes (straight-through gradients).
    onehot : Tensor
        ``(B, n, K)`` one-hot code choice (straight-through gradients for Gumbel).
    indices : Tensor
        ``(B, n)`` int64 code indices.
    aux_loss : Tensor
        Scalar sum of the quantizer's weighted auxiliary losses.
    terms : dict of str to float
        The unweighted auxiliary losses, for logging.
    """

    z: torch.Tensor
    onehot: torch.Tensor
    indices: torch.Tensor
    aux_loss: torch.Tensor
    terms: dict[str, float]


def orthogonality_loss(codebook: torch.Tensor) -> torch.Tensor:
    """``mean_ij (ĉ_iᵀ ĉ_j)² − 1/K`` for L2-normalised rows ĉ of ``codebook`` ``(K, D)``."""
    c = F.normalize(codebook, dim=-1)
    gram = c @ c.t()
    return (gram**2).mean() - 1.0 / codebook.shape[0]


class GumbelQuantizer(nn.Module):
    """Gumbel-Softmax codebook with straight-through hard samples.

    A code ``k`` is a unit vector ``c_k`` (D) and a patch template ``w_k`` (P); its logit for patch
    ``x_p`` with encoder feature ``h`` is ``ℓ_k = −a ‖x_p − w_k‖² + (W h)ᵀ ĉ_k`` (``a`` learned):
    k-means' rule plus a learned contextual term. Training samples ``softmax(ℓ / τ)`` (Gumbel-max,
    straight-through), inference takes the arg-max. Regularisers: ``λ_usage · KL(p̄ ‖ uniform)`` on
    batch-mean code probabilities and the orthogonality loss (eq. 2 of arXiv 2112.00384).

    Parameters
    ----------
    d_model, codebook_size, code_dim, patch_len : int
        Encoder feature width, K codes, D (code vector size), P (frames per template).
    lambda_orth, lambda_usage : float
        Weights of the orthogonality and code-usage losses.
    distance_scale : float
        Initial weight ``a`` of the template-distance term.
    """

    def __init__(self, d_model: int, codebook_size: int, code_dim: int, patch_len: int,
                 lambda_orth: float, lambda_usage: float, distance_scale: float = 10.0) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, code_dim)
        self.codebook = nn.Parameter(torch.randn(codebook_size, code_dim))
        self.templates = nn.Parameter(torch.zeros(codebook_size, patch_len))
        self.log_sharpness = nn.Parameter(torch.tensor(math.log(distance_scale)))
        self.lambda_orth = lambda_orth
        self.lambda_usage = lambda_usage

    def set_templates(self, templates: torch.Tensor) -> None:
        """Start the templates at ``templates`` ``(K, P)``."""
        self.templates.copy_(templates)

    def code_vectors(self) -> torch.Tensor:
        """The ``(K, D)`` unit-norm code vectors."""
        return F.normalize(self.codebook, dim=-1)

    def logits(self, h: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """Code logits ``(B, n, K)`` of features ``h`` ``(B, n, d)`` and patches ``(B, n, P)``."""
        w = self.templates
        dist = (patches**2).sum(-1, keepdim=True) - 2 * patches @ w.t() + (w**2).sum(-1)
        return self.proj(h) @ self.code_vectors().t() - self.log_sharpness.exp() * dist

    def indices(self, h: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """Arg-max codes ``(B, n)``."""
        return self.logits(h, patches).argmax(-1)

    def forward(self, h: torch.Tensor, patches: torch.Tensor, tau: float) -> QuantizerOutput:
        """Quantize; draws with Gumbel noise in training mode, arg-max otherwise."""
        logits = self.logits(h, patches).float() / tau
        K = logits.shape[-1]
        if self.training:
            onehot = F.gumbel_softmax(logits, tau=1.0, hard=True, dim=-1)
            indices = onehot.argmax(-1)
        else:
            indices = logits.argmax(-1)
            onehot = F.one_hot(indices, K).to(logits.dtype)
        z = onehot @ self.code_vectors()
        probs = logits.softmax(-1).reshape(-1, K)
        mean_prob = probs.mean(0)
        spread = (mean_prob * (mean_prob * K).clamp_min(1e-12).log()).sum()
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
        orth = orthogonality_loss(self.codebook)
        aux = self.lambda_usage * spread + self.lambda_orth * orth
        terms = {"usage_kl": float(spread.detach()), "token_entropy": float(entropy.detach()),
                 "orth": float(orth.detach())}
        return QuantizerOutput(z, onehot, indices, aux, terms)


class EMAQuantizer(nn.Module):
    """Plain VQ-VAE codebook: nearest code, EMA updates, commitment loss.

    :class:`GumbelQuantizer`'s codes, quantized classically: the code nearest to ``[x_p, W h]``,
    both parts updated as moving averages of their assignments, a straight-through gradient to
    ``W h`` and a commitment loss ``β ‖W h − sg(c_k)‖²``.

    Parameters
    ----------
    d_model, codebook_size, code_dim, patch_len : int
        As for :class:`GumbelQuantizer`.
    commitment, decay, eps : float
        Commitment weight β, EMA decay of codebook statistics, Laplace smoothing of cluster sizes.
    """

    def __init__(self, d_model: int, codebook_size: int, code_dim: int, patch_len: int,
                 commitment: float, decay: float, eps: float = 1e-5) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, code_dim)
        self.patch_len = patch_len
        codebook = torch.randn(codebook_size, patch_len + code_dim)
        self.register_buffer("codebook", codebook)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", codebook.clone())
        self.commitment = commitment
        self.decay = decay
        self.eps = eps

    @property
    def templates(self) -> torch.Tensor:
        """The ``(K, P)`` patch templates (the first P columns of the codebook)."""
        return self.codebook[:, : self.patch_len]

    def set_templates(self, templates: torch.Tensor) -> None:
        """Start the template part at ``templates`` and the vector part at zero."""
        self.codebook.zero_()
        self.codebook[:, : self.patch_len] = templates
        self.embed_sum.copy_(self.codebook)

    def code_vectors(self) -> torch.Tensor:
        """The ``(K, D)`` code vectors."""
        return self.codebook[:, self.patch_len:]

    def _nearest(self, joint: torch.Tensor) -> torch.Tensor:
        flat = joint.reshape(-1, joint.shape[-1])
        cb = self.codebook
        dist = (flat**2).sum(1, keepdim=True) - 2 * flat @ cb.t() + (cb**2).sum(1)
        return dist.argmin(1).view(joint.shape[:-1])

    def indices(self, h: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """Nearest codes ``(B, n)``."""
        return self._nearest(torch.cat((patches, self.proj(h)), -1))

    def forward(self, h: torch.Tensor, patches: torch.Tensor, tau: float) -> QuantizerOutput:
        """Quantize; updates the codebook by EMA in training mode (``tau`` is unused)."""
        z = self.proj(h).float()
        joint = torch.cat((patches.float(), z), -1)
        indices = self._nearest(joint)
        K = self.codebook.shape[0]
        if self.training:
            with torch.no_grad():
                flat = joint.reshape(-1, joint.shape[-1]).detach()
                onehot = F.one_hot(indices.reshape(-1), K).to(flat.dtype)
                self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
                self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
                n = self.cluster_size.sum()
                size = (self.cluster_size + self.eps) / (n + K * self.eps) * n
                self.codebook.copy_(self.embed_sum / size[:, None])
        q = self.code_vectors()[indices]
        commit = F.mse_loss(z, q.detach())
        z_st = z + (q - z).detach()
        onehot = F.one_hot(indices, K).to(z.dtype)
        return QuantizerOutput(z_st, onehot, indices, self.commitment * commit, {"commit": float(commit.detach())})


def perplexity(indices: torch.Tensor, codebook_size: int) -> tuple[float, float]:
    """Perplexity ``exp(H)`` of the code histogram and the fraction of codes used."""
    counts = torch.bincount(indices.reshape(-1), minlength=codebook_size).double()
    p = counts / counts.sum().clamp_min(1)
    h = -(p[p > 0] * p[p > 0].log()).sum()
    return float(math.exp(float(h))), float((counts > 0).double().mean())
