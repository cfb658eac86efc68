"""DAT model: causality, permutation equivariance, padding masks, cached decoding, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from src_models.dat.calm import load_calm, save_calm
from src_models.dat.config import DATConfig
from src_models.dat.model import DualAxisTransformer
from src_models.dat.tiny import tiny_calm
from src_models.errors import CalmError


@pytest.fixture
def dat() -> DualAxisTransformer:
    torch.manual_seed(0)
    cfg = DATConfig(codebook_size=32, code_dim=8, patch_len=4, d_model=32, n_layers=2, n_heads=2,
                    n_neurons=20, n_sessions=3)
    return DualAxisTransformer(cfg, torch.randn(32, 8)).eval()


def _inputs(B=2, N=5, T=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    tok = torch.randint(0, 32, (B, N, T), generator=g)
    nid = torch.randint(1, 20, (B, N), generator=g)
    sid = torch.tensor([1, 2])[:B]
    return tok, nid, sid


def test_changing_a_future_token_never_changes_an_earlier_prediction(dat):
    tok, nid, sid = _inputs()
    ref = dat(tok, nid, sid).logits
    for t in range(1, tok.shape[2]):
        changed = tok.clone()
        changed[:, 2, t] = (changed[:, 2, t] + 7) % 32  # one neuron's token at time t
        out = dat(changed, nid, sid).logits
        assert torch.equal(out[:, :, :t], ref[:, :, :t]), f"positions before {t} changed"
        # the change does reach the same time step of *other* neurons (neural attention)
        assert not torch.allclose(out[:, 0, t], ref[:, 0, t])


@pytest.mark.parametrize("policy", [{}, {"causal_frames": 12}, {"decode": "context"}])
def test_frames_after_a_token_never_change_it_or_its_prediction(policy):
    model = tiny_calm(**policy)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 64)).astype(np.float32)
    tok_a = model.tokenizer.tokenize_model_rate(z)
    z2 = z.copy()
    z2[:, 40:] += 3 * rng.standard_normal((6, 24)).astype(np.float32)  # change frames from patch 10 on
    tok_b = model.tokenizer.tokenize_model_rate(z2)
    assert np.array_equal(tok_a[:, :10], tok_b[:, :10])
    nid = torch.zeros(1, 6, dtype=torch.long)
    sid = torch.zeros(1, dtype=torch.long)
    la = model.dat(torch.from_numpy(tok_a)[None], nid, sid).logits
    lb = model.dat(torch.from_numpy(tok_b)[None], nid, sid).logits
    assert torch.equal(la[:, :, :10], lb[:, :, :10])


def test_permuting_neurons_permutes_the_outputs(dat):
    tok, nid, sid = _inputs()
    anchors = torch.randn(*tok.shape, 4)
    out = dat(tok, nid, sid, None, anchors)
    perm = torch.tensor([3, 0, 4, 1, 2])
    outp = dat(tok[:, perm], nid[:, perm], sid, None, anchors[:, perm])
    torch.testing.assert_close(outp.logits, out.logits[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outp.regression, out.regression[:, perm], atol=1e-5, rtol=1e-5)


def test_the_frame_path_starts_silent_and_then_reads_the_whole_last_patch():
    torch.manual_seed(0)
    base = dict(codebook_size=32, code_dim=8, patch_len=4, d_model=32, n_layers=2, n_heads=2,
                n_neurons=20, n_sessions=3)
    plain = DualAxisTransformer(DATConfig(**base), torch.randn(32, 8)).eval()
    framed = DualAxisTransformer(DATConfig(**base, reg_frame_hidden=16), torch.randn(32, 8)).eval()
    assert "reg_frames.0.weight" not in plain.state_dict()  # older checkpoints keep their layout
    missing = framed.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert all(k.startswith("reg_frames.") for k in missing)
    tok, nid, sid = _inputs()
    anchors = torch.randn(*tok.shape, 4)
    earlier = anchors.clone()
    earlier[..., :3] += 2.0  # same last frame, different earlier frames of the patch
    ref = plain(tok, nid, sid, None, anchors).regression
    torch.testing.assert_close(framed(tok, nid, sid, None, anchors).regression, ref)  # silent at first
    assert torch.equal(plain(tok, nid, sid, None, earlier).regression, ref)  # the linear head sees the last frame only
    with torch.no_grad():
        framed.reg_frames[2].weight.normal_()
    a = framed(tok, nid, sid, None, anchors).regression
    assert not torch.allclose(a, framed(tok, nid, sid, None, earlier).regression)
    shifted = anchors + 1.0  # the path reads the shape of the patch, not its level
    torch.testing.assert_close(framed(tok, nid, sid, None, shifted).regression - a,
                               plain(tok, nid, sid, None, shifted).regression - ref, atol=1e-5, rtol=1e-5)


def test_masked_neurons_are_predicted_from_the_others_only():
    torch.manual_seed(0)
    cfg = DATConfig(codebook_size=32, code_dim=8, patch_len=4, d_model=32, n_layers=2, n_heads=2,
                    n_neurons=20, n_sessions=3, mask_embedding=True)
    dat = DualAxisTransformer(cfg, torch.randn(32, 8)).eval()
    with torch.no_grad():
        dat.mask_emb.normal_()
    tok, nid, sid = _inputs()
    masked = torch.zeros(2, 5, dtype=torch.bool)
    masked[0, 1] = masked[1, 3] = True
    other = tok.clone()
    other[0, 1] = (other[0, 1] + 5) % 32
    other[1, 3] = (other[1, 3] + 7) % 32
    a = dat(tok, nid, sid, masked=masked).logits
    torch.testing.assert_close(a, dat(other, nid, sid, masked=masked).logits)  # its own tokens are unseen
    assert not torch.allclose(a, dat(tok, nid, sid).logits)
    torch.testing.assert_close(dat(tok, nid, sid, masked=torch.zeros_like(masked)).logits, dat(tok, nid, sid).logits)
    plain = DualAxisTransformer(DATConfig(**{**cfg.to_dict(), "mask_embedding": False}), torch.randn(32, 8))
    assert "mask_emb" not in plain.state_dict()  # checkpoints without masking keep their layout
    with pytest.raises(ValueError, match="no mask embedding"):
        plain(tok, nid, sid, masked=masked)


def test_padded_neurons_are_masked(dat):
    tok, nid, sid = _inputs()
    B, N, T = tok.shape
    ref = dat(tok, nid, sid).logits
    outs = []
    for seed in (5, 6):
        g = torch.Generator().manual_seed(seed)
        pad_tok = torch.cat([tok, torch.randint(0, 32, (B, 3, T), generator=g)], 1)
        pad_nid = torch.cat([nid, torch.randint(0, 20, (B, 3), generator=g)], 1)
        mask = torch.zeros(B, N + 3, dtype=torch.bool)
        mask[:, :N] = True
        outs.append(dat(pad_tok, pad_nid, sid, mask).logits[:, :N])
    torch.testing.assert_close(outs[0], ref, atol=1e-6, rtol=1e-6)
    assert torch.equal(outs[0], outs[1])  # what the padding holds does not matter
    unmasked = dat(pad_tok, pad_nid, sid).logits[:, :N]
    assert not torch.allclose(unmasked, ref)  # without the mask the padding would leak in


def test_cached_decoding_equals_the_full_pass(dat):
    tok, nid, sid = _inputs()
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    full = dat.encode(tok, nid, sid, mask)
    h1, cache = dat.encode_cached(tok[:, :, :4], nid, sid, mask)
    h2, cache = dat.encode_cached(tok[:, :, 4:5], nid, sid, mask, cache)
    h3, _ = dat.encode_cached(tok[:, :, 5:], nid, sid, mask, cache)
    inc = torch.cat([h1, h2, h3], 2)
    torch.testing.assert_close(inc[mask], full[mask], atol=1e-5, rtol=1e-5)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    model = tiny_calm()
    model.add_session(name="r", source="r", fs=10.0, mean=np.zeros(3), std=np.ones(3),
                      fingerprint="abc", frames=[0, 10])
    path = save_calm(model, tmp_path / "m")
    with pytest.raises(CalmError, match="not a CalM checkpoint"):
        load_calm(tmp_path)  # neither a bundle nor a folder with best/ or last/
    loaded = load_calm(path)
    tok = torch.randint(0, 16, (1, 3, 5))
    nid = torch.tensor([[1, 2, 3]])
    sid = torch.tensor([1])
    torch.testing.assert_close(loaded.dat(tok, nid, sid).logits, model.dat(tok, nid, sid).logits)
    assert loaded.find_session("abc")["n_neurons"] == 3
    meta = json.loads((path / "config.json").read_text())
    meta["config"]["dat"]["d_model"] = 64
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CalmError, match="do not match the config"):
        load_calm(path)
    with pytest.raises(CalmError, match="not found"):
        load_calm(tmp_path / "missing")


@pytest.mark.parametrize("policy", [{}, {"causal_frames": 12}, {"mode": "window"}])
def test_overlapping_windows_tokenize_like_separate_contexts(policy):
    from src_models.dat.forecast import _context_tokens

    model = tiny_calm(**policy)
    z = np.random.default_rng(1).standard_normal((3, 90)).astype(np.float32)
    starts = np.array([5, 6, 17, 40])
    tok = model.tokenizer
    alone = np.stack([tok.tokenize_model_rate(z[:, s + 2 : s + 18]) for s in starts])  # context 18 -> 4 tokens
    assert np.array_equal(_context_tokens(model, z, 10.0, starts, 18, 4), alone)
    if tok.patch_local:
        positions = np.arange(3, 80)
        cache = (positions, tok.patch_tokens(z, positions))
        assert np.array_equal(_context_tokens(model, z, 10.0, starts, 18, 4, cache), alone)
