"""Safe .npy loading: restricted unpickler, truncated files, pickles where numbers belong."""

from __future__ import annotations

import collections
import datetime
import io
import pickle

import numpy as np
import pytest

from src_models.readers.npy import RestrictedUnpickler, load_npy, load_npy_dict
from src_models.errors import CalmError


def _npy_with_pickle(path, payload: bytes, shape=(1,)):
    """An object-dtype .npy whose data section is an arbitrary pickle stream."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|O", "fortran_order": False, "shape": shape}
    )
    path.write_bytes(buf.getvalue() + payload)
    return path


def test_suite2p_style_pickles_load(tmp_path):
    stat = np.array(
        [
            {
                "ypix": np.arange(3),
                "xpix": np.arange(3),
                "lam": np.ones(3, np.float32),
                "med": [1, 1],
                "skew": np.float32(0.5),
                "npix": 3,
                "overlap": np.zeros(3, bool),
            }
        ],
        dtype=object,
    )
    np.save(tmp_path / "stat.npy", stat, allow_pickle=True)
    out = load_npy(tmp_path / "stat.npy", allow_objects=True)
    assert out[0]["skew"] == np.float32(0.5) and np.array_equal(out[0]["ypix"], np.arange(3))
    ops = {"fs": 30.0, "date_proc": datetime.datetime.now().astimezone(), "nested": {"a": (1, 2)}}
    np.save(tmp_path / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    assert load_npy_dict(tmp_path / "ops.npy")["nested"] == {"a": (1, 2)}


def test_os_system_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    path = _npy_with_pickle(tmp_path / "stat.npy", payload)
    with pytest.raises(CalmError, match=r"refuses to unpickle os\.system") as err:
        load_npy(path, allow_objects=True)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_ordered_dict_is_refused(tmp_path):
    path = tmp_path / "ops.npy"
    np.save(path, np.array([collections.OrderedDict(a=1)], dtype=object), allow_pickle=True)
    with pytest.raises(CalmError, match=r"refuses to unpickle collections\.OrderedDict"):
        load_npy_dict(path)


@pytest.mark.parametrize("protocol", [2, 4])
def test_unpickler_refuses_builtins_eval(protocol):
    payload = pickle.dumps(eval, protocol=protocol)  # a reference to builtins.eval
    with pytest.raises(CalmError, match=r"builtins\.eval"):
        RestrictedUnpickler(io.BytesIO(payload), source=None).load()


def test_numeric_file_holding_pickle_is_refused(tmp_path):
    path = tmp_path / "F.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CalmError, match="pickled Python objects"):
        load_npy(path)


def test_truncated_npy(tmp_path):
    path = tmp_path / "F.npy"
    np.save(path, np.ones((20, 1000), np.float32))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CalmError, match="truncated"):
        load_npy(path)


def test_truncated_pickle(tmp_path):
    path = tmp_path / "stat.npy"
    np.save(path, np.array([{"ypix": np.arange(100)}], dtype=object), allow_pickle=True)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CalmError, match="corrupt or truncated pickle"):
        load_npy(path, allow_objects=True)


def test_not_npy(tmp_path):
    path = tmp_path / "F.npy"
    path.write_bytes(b"hello world, not numpy")
    with pytest.raises(CalmError, match="not a valid .npy"):
        load_npy(path)


def test_numeric_is_memory_mapped(tmp_path):
    path = tmp_path / "F.npy"
    np.save(path, np.arange(12, dtype=np.float32).reshape(3, 4))
    arr = load_npy(path)
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    assert arr[2, 3] == 11
