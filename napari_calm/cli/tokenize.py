"""``calm tokenize``: a recording's traces -> NQ tokens, reconstruction and fidelity metrics.

Writes ``--out`` (``.npz``, written atomically) with ``tokens`` (N × n_tokens
int32), ``recon`` (N × T float32, input units), ``mask`` (N × T bool, frames
excluded from the metrics), ``token_mask`` (N × n_tokens bool), ``fs`` and
``metrics`` (a JSON string). ``--json`` prints the metrics as one JSON object
on stdout (``recon_r_median``, ``recon_r2``, ``recon_mse``,
``codebook_perplexity``, ``codebook_used_fraction``, the masking report, ...).
Without ``--checkpoint`` the shipped default tokenizer is used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from napari_calm.cli.recording_options import add_recording_options, read_with_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm tokenize``."""
    from napari_calm.cli.options import add_settings
    from src_models.settings import TokenizeSettings

    parser.add_argument("path", metavar="PATH", help="recording (any format calm reads)")
    parser.add_argument("--checkpoint", metavar="DIR", help="NQ checkpoint folder (default: the shipped tokenizer)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output .npz")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_recording_options(parser)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    add_settings(parser, TokenizeSettings)


def run(args: argparse.Namespace) -> int:
    """Tokenize and write the outputs; returns the exit status."""
    import numpy as np

    from napari_calm.cli.options import settings_from
    from src_models.errors import CalmError
    from src_models.nq.io import load_nq
    from src_models.nq.tokenize import tokenize_traces
    from src_models.outputs import claim_output, dumps, json_safe
    from src_models.settings import TokenizeSettings

    settings = settings_from(args, TokenizeSettings)
    claim_output(args.out, "tokenize", folder=False, overwrite=args.overwrite)
    model = load_nq(args.checkpoint, device=args.device)
    rec = read_with_options(args.path, args)
    result = tokenize_traces(model, rec.traces, rec.fs, batch_windows=settings.batch_windows)
    metrics = json_safe(result.metrics)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, tokens=result.tokens, recon=result.recon, mask=result.mask,
                                token_mask=result.token_mask, fs=np.float64(rec.fs),
                                metrics=np.array(dumps(metrics)))
        os.replace(tmp, out)
    except OSError as exc:
        raise CalmError(f"cannot write tokens ({exc.strerror or exc})", out) from None
    finally:
        tmp.unlink(missing_ok=True)
    if args.json:
        print(dumps({**metrics, "out": str(out)}))
    else:
        print(f"{out}: {result.tokens.shape[0]} neurons x {result.tokens.shape[1]} tokens; "
              f"recon r (median) {metrics['recon_r_median']}, perplexity {metrics['codebook_perplexity']}, "
              f"codes used {metrics['codebook_used_fraction']}", file=sys.stderr)
    return 0
