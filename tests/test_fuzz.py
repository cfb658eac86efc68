"""Fuzz suite: bad inputs of every class for every ``calm`` command and the napari reader.

Each must end with exit status 2 and exactly one ``error:`` line, no traceback, nothing changed
outside the command's output and nothing executed (tests/fuzz_corpus.py). The property-based
part draws a small number of examples by default (400 sidecar pairs in the ``slow`` test);
``CALM_FUZZ_EXAMPLES=N`` raises every generated test to N.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_corpus import PWNED, _tiff, all_cases, random_meta_case, reader_inputs, run_case, sidecars_valid
from napari_calm._reader import napari_get_reader
from src_models.errors import CalmError
from src_models.readers import read_recording


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: f"{c.command}: {c.name}")
def test_bad_input_is_one_clean_error(case, tmp_path):
    outcome = run_case(case, tmp_path)
    assert outcome.verdict == "clean", f"{outcome.verdict} (status {outcome.status}):\n{outcome.stderr}"


def test_napari_reader_returns_none_or_raises_one_line_calm_error(tmp_path):
    for path in reader_inputs(tmp_path):
        reader = napari_get_reader(str(path))
        if reader is None:
            continue
        with pytest.raises(CalmError) as info:
            reader(str(path))
        assert "\n" not in str(info.value)
    assert not list(tmp_path.rglob(PWNED))


def test_a_corrupt_tiff_page_is_a_clean_error_when_read(tmp_path):
    movie = read_recording(_tiff(tmp_path, corrupt=True), fs=10).movie
    movie[0]
    with pytest.raises(CalmError, match="corrupt TIFF page"):
        movie[1]


#: ``CALM_FUZZ_EXAMPLES=N`` raises every generated test to N examples
_MANY = int(os.environ.get("CALM_FUZZ_EXAMPLES", "0"))

_FS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30), st.booleans(),
    st.text(max_size=5), st.lists(st.integers(0, 9), max_size=2), st.none(),
)
_CELL = st.one_of(st.integers(-(10**25), 10**25).map(str), st.text(max_size=4).filter(
    lambda s: not set(s) & set(',"\r\n')))


def _check_generated(fs: object, cells: tuple[str, str], root: Path) -> None:
    for p in root.iterdir():
        import shutil

        shutil.rmtree(p) if p.is_dir() else p.unlink()
    outcome = run_case(random_meta_case(fs, cells), root)
    if sidecars_valid(fs, cells):
        assert outcome.status == 0, outcome.stderr
    else:
        assert outcome.verdict == "clean", f"{outcome.verdict}:\n{outcome.stderr}"


@settings(max_examples=_MANY or 40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fs=_FS, cells=st.tuples(_CELL, _CELL))
def test_generated_sidecars_are_read_or_refused_cleanly(fs, cells, tmp_path):
    _check_generated(fs, cells, tmp_path)


@pytest.mark.slow
def test_many_generated_sidecars(tmp_path):
    @settings(max_examples=max(_MANY, 400), deadline=None)
    @given(fs=_FS, cells=st.tuples(_CELL, _CELL))
    def run(fs, cells):
        _check_generated(fs, cells, tmp_path)

    run()


def test_json_output_is_strict_on_constant_traces(tmp_path, capsys):
    import json

    from napari_calm.cli.main import main

    path = tmp_path / "flat.npz"
    np.savez(path, traces=np.ones((4, 400), np.float32), fs=np.float64(10.0))
    assert main(["forecast", str(path), "--json", "--no-adapt", "--samples", "0", "--stride", "8"]) == 0
    json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20), st.booleans(),
    st.text(max_size=4), st.none(), st.lists(st.integers(-3, 3), max_size=2),
)
_ARRAYS = st.one_of(
    st.builds(lambda v, n: np.full(n, v), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
        [(0,), (3,), (2, 0), (2, 650), (650, 2), (1, 1, 650)])),
    st.builds(lambda v: np.full((2, 650), v), st.sampled_from(["a", True, 2**62])),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3).map(lambda v: np.array(v, np.int64)),
    st.text(max_size=3).map(np.array),
)


@settings(max_examples=_MANY or 30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrays=st.dictionaries(st.sampled_from(["traces", "fs", "trials_start_frame", "trials_end_frame",
                                               "behavior_speed"]), _ARRAYS, max_size=4))
def test_generated_npz_is_read_or_refused_cleanly(arrays, tmp_path):
    from fuzz_corpus import Case, npz_file

    for p in tmp_path.iterdir():
        p.unlink()
    outcome = run_case(Case("info", "generated npz", lambda r: ["info", str(npz_file(r, **arrays))]), tmp_path)
    assert outcome.status == 0 or outcome.verdict == "clean", f"{outcome.verdict}:\n{outcome.stderr}"


@settings(max_examples=_MANY or 60, deadline=None)
@given(section=st.sampled_from(["DATConfig", "TrainConfig", "FinetuneConfig", "TokenizerPolicy", "NQConfig"]),
       data=st.data())
def test_generated_config_values_build_or_raise_calm_error(section, data):
    import dataclasses

    from src_models.dat import config as dat_config
    from src_models.nq.config import NQConfig

    cls = NQConfig if section == "NQConfig" else getattr(dat_config, section)
    names = [f.name for f in dataclasses.fields(cls)]
    values = data.draw(st.dictionaries(st.sampled_from(names), _VALUES, max_size=3))
    try:
        cls.from_dict(values, "config.json")
    except CalmError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=_MANY or 30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.dictionaries(st.sampled_from(["Ly", "Lx", "neucoeff", "fs", "meanImg", "nframes"]), _VALUES,
                           max_size=3))
def test_generated_suite2p_options_are_read_or_refused_cleanly(ops, tmp_path):
    import shutil

    from fuzz_corpus import Case, suite2p_plane

    shutil.rmtree(tmp_path / "suite2p", ignore_errors=True)
    outcome = run_case(Case("info", "generated ops", lambda r: ["info", str(suite2p_plane(r, ops=ops))]), tmp_path)
    assert outcome.status == 0 or outcome.verdict == "clean", f"{outcome.verdict}:\n{outcome.stderr}"
