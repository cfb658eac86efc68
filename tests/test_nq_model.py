"""NQ model: shapes, encode/decode round trip, RoPE, config round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nq_helpers import tiny_config
from src_models.errors import CalmError
from src_models.nq.config import NQConfig
from src_models.nq.model import NeuralQuantizer
from src_models.nq.rope import apply_rotary


@pytest.mark.parametrize("quantizer", ["gumbel", "vq_ema"])
def test_shapes_and_round_trip(quantizer):
    torch.manual_seed(0)
    cfg = tiny_config(quantizer=quantizer)
    model = NeuralQuantizer(cfg).eval()
    x = torch.randn(3, 32)
    idx = model.encode(x)
    assert idx.shape == (3, 32 // cfg.patch_len) and idx.dtype == torch.long
    assert int(idx.min()) >= 0 and int(idx.max()) < cfg.codebook_size
    rec = model.decode(idx)
    assert rec.shape == (3, 32) and rec.dtype == torch.float32
    # decoding is a function of the tokens: re-encoding the decoded window decodes identically
    assert torch.equal(model.decode(idx), rec)
    assert model.code_embedding(idx).shape == (3, 8, cfg.code_dim)
    wf = model.code_waveforms()
    assert isinstance(wf, np.ndarray) and wf.shape == (cfg.codebook_size, cfg.patch_len)
    out = model.train()(x, tau=0.5)
    assert out.recon.shape == x.shape and out.quant.indices.shape == idx.shape
    out.recon.sum().backward()


def test_fresh_model_decodes_its_templates():
    """At initialisation the contextual paths are silent: a code decodes to its template."""
    cfg = tiny_config()
    model = NeuralQuantizer(cfg).eval()
    with torch.no_grad():
        model.quantizer.templates.copy_(torch.randn(cfg.codebook_size, cfg.patch_len))
    idx = torch.randint(0, cfg.codebook_size, (2, 4))
    expected = model.quantizer.templates[idx].reshape(2, -1)
    assert torch.allclose(model.decode(idx), expected)
    # and the encoder picks the nearest template
    x = expected + 1e-3 * torch.randn_like(expected)
    assert torch.equal(model.encode(x), idx)


def test_encode_rejects_partial_patches():
    model = NeuralQuantizer(tiny_config())
    with pytest.raises(ValueError):
        model.encode(torch.randn(2, 10))


def test_rotary_is_relative_and_norm_preserving():
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8)
    pos = torch.arange(5)
    q1, k1 = apply_rotary(q, k, pos)
    q2, k2 = apply_rotary(q, k, pos + 7)
    assert torch.allclose(q1.norm(dim=-1), q.norm(dim=-1), atol=1e-5)
    assert torch.allclose(q1 @ k1.transpose(-1, -2), q2 @ k2.transpose(-1, -2), atol=1e-4)
    q3, _ = apply_rotary(q, k, torch.zeros(5))
    assert torch.allclose(q3, q)
    with pytest.raises(ValueError):
        apply_rotary(torch.randn(1, 2, 7), torch.randn(1, 2, 7), torch.arange(2))


def test_config_json_round_trip(tmp_path):
    cfg = tiny_config(quantizer="vq_ema", seed=3)
    cfg.to_json(tmp_path / "c.json")
    assert NQConfig.from_json(tmp_path / "c.json") == cfg
    assert cfg.n_tokens == 4 and cfg.bits_per_frame == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [{"window": 18}, {"quantizer": "rvq"}, {"no_such_key": 1},
                                 {"codebook_size": 0}, {"fs_policy": "auto"}, {"steps": 2.5}])
def test_config_refuses_bad_values(tmp_path, bad):
    (tmp_path / "c.json").write_text(json.dumps({**tiny_config().to_dict(), **bad}))
    with pytest.raises(CalmError, match="c.json"):
        NQConfig.from_json(tmp_path / "c.json")


def test_config_refuses_non_json(tmp_path):
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(CalmError, match="unreadable"):
        NQConfig.from_json(tmp_path / "c.json")
