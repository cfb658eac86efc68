"""Two CPU processes with gloo under torchrun: DDP pretraining keeps the replicas identical.

The test runs this file as the worker script: ``torchrun --nproc_per_node 2 tests/test_dat_ddp.py OUT``.
Each rank pretrains a tiny CalM for a few steps and writes its in-memory DAT
weights to ``OUT/rank<r>.safetensors``; the test checks both ranks agree with
each other and with the ``last/`` checkpoint rank 0 wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

STEPS = 4


def worker(out: Path) -> None:
    """One rank: pretrain, then export the in-memory weights."""
    from safetensors.torch import save_file

    from src_models.dat.data import DataSource
    from src_models.dat.pretrain import pretrain
    from src_models.dat.tiny import TINY_DAT, tiny_nq, tiny_recording

    torch.set_num_threads(1)
    sources = [DataSource(f"s{i}", recording=tiny_recording(6 + 2 * i, 240, seed=i, source=f"s{i}"))
               for i in range(4)]

    def export(model, rank):
        save_file({k: v.contiguous() for k, v in model.dat.state_dict().items()}, str(out / f"rank{rank}.safetensors"))

    pretrain(sources, out / "run", nq=tiny_nq(), model_config=TINY_DAT,
             train_config=dict(batch_size=2, window_tokens=6, max_neurons=6, val_every=2, checkpoint_every=2,
                               val_windows=2, warmup_steps=1),
             max_steps=STEPS, seed=0, device="cpu", log=lambda m: None, on_finish=export)


@pytest.mark.slow
def test_two_gloo_processes_keep_identical_weights_equal_to_the_checkpoint(tmp_path):
    from safetensors.torch import load_file

    from src_models.dat.calm import load_calm

    env = dict(os.environ, OMP_NUM_THREADS="1")
    repo = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         str(Path(__file__).resolve()), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    ckpt, _, meta = load_calm(tmp_path / "run" / "last", with_extra=True)
    assert meta["state"]["step"] == STEPS and meta["state"]["config"]["world_size"] == 2
    saved = ckpt.dat.state_dict()
    assert r0.keys() == r1.keys() == saved.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
        assert torch.equal(r0[k], saved[k]), k
    # the two ranks trained on different sessions (sharded), so the shared weights are an average
    assert "val_loss" in meta["state"]["metrics"]


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
