"""NQ checkpoints: save/load round trip and refusal of mismatching or corrupted files."""

from __future__ import annotations

import json

import pytest
import torch

from nq_helpers import tiny_config
from src_models.checkpoint import save_checkpoint
from src_models.errors import CalmError
from src_models.nq.io import load_nq, save_nq
from src_models.nq.model import NeuralQuantizer


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = NeuralQuantizer(tiny_config()).eval()
    save_nq(model, tmp_path / "nq", {"step": 3})
    return model, tmp_path / "nq"


def test_round_trip(saved):
    model, path = saved
    loaded = load_nq(path)
    assert loaded.config == model.config and loaded.checkpoint_state == {"step": 3}
    x = torch.randn(2, 16)
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert torch.allclose(loaded.decode(model.encode(x)), model.decode(model.encode(x)))


def test_refuses_wrong_shapes(saved):
    _, path = saved
    meta = json.loads((path / "config.json").read_text())
    meta["config"]["codebook_size"] = 32
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CalmError, match="do not match the config"):
        load_nq(path)


def test_refuses_corrupted_weights(saved):
    _, path = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CalmError, match="corrupt"):
        load_nq(path)


def test_refuses_wrong_kind(tmp_path):
    save_checkpoint(tmp_path / "x", {"w": torch.zeros(2)}, {"model": "calm", "config": {}})
    with pytest.raises(CalmError, match="expected 'nq'"):
        load_nq(tmp_path / "x")


def test_refuses_unknown_config_keys(saved):
    _, path = saved
    meta = json.loads((path / "config.json").read_text())
    meta["config"]["layers"] = 3
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CalmError, match="unknown NQ config keys"):
        load_nq(path)


def test_refuses_non_finite_weights(saved):
    model, path = saved
    with torch.no_grad():
        model.quantizer.templates[0, 0] = float("nan")
    save_nq(model, path)
    with pytest.raises(CalmError, match="NaN"):
        load_nq(path)


def test_refuses_missing_paths(tmp_path):
    with pytest.raises(CalmError, match="not found"):
        load_nq(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CalmError, match="folder"):
        load_nq(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalmError, match="config.json"):
        load_nq(tmp_path / "empty")
