"""Optimizer state: state_dict / load_state_dict, save / load, exact resumption, refused mismatches.

The state's whole catalogue of bad dicts and files (``tests/reliability/test_catalogue.py`` counts it):
mismatched or missing fields, files of another optimizer, pickles, truncated or corrupt zips, absurd
or wrong entries; every refusal leaves the optimizer unchanged, reads without unpickling and
allocates nothing of the size a file declares.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from helpers import SMALL_PEAK, peak_allocation, to_numpy

from proxadagrad_ref import Parameter, ProximalAdagrad
from proxadagrad_ref.schedules import CosineDecayLR


def make_params(dtype=np.float32):
    return [
        Parameter(np.linspace(-1, 1, 32, dtype=dtype).reshape(2, 16), name="conv.w"),
        Parameter(np.linspace(0, 1, 12, dtype=dtype).reshape(6, 2), name="emb"),
        Parameter(np.ones(3, dtype), name="bn.beta"),
    ]


def grads_at(step, dtype=np.float32):
    rng = np.random.default_rng(step)
    return (
        rng.standard_normal((2, 16)).astype(dtype),
        (np.array([step % 6, 1, step % 6]), rng.standard_normal((3, 2)).astype(dtype)),
        rng.standard_normal(3).astype(dtype),
    )


def build(params, emulate):
    groups = [
        {"params": params[:2], "grad_centralization": True, "weight_decay": 0.01},
        {"params": params[2:], "lr": [0.1, 0.09, 0.08, 0.07, 0.06, 0.05]},
    ]
    return ProximalAdagrad(
        groups,
        learning_rate=CosineDecayLR(0.01, 0.1, 6, emulate=emulate),
        l1=0.001,
        l2=0.01,
        loss_scale=2.0,
        emulate=emulate,
    )


@pytest.mark.parametrize("emulate", [None, "mindspore"])
@pytest.mark.parametrize("via", ["dict", "file"])
def test_resume_gives_the_same_bits(tmp_path, emulate, via):
    full_params = make_params()
    full = build(full_params, emulate)
    for t in range(6):
        full(grads_at(t))

    first_params = make_params()
    first = build(first_params, emulate)
    for t in range(3):
        first(grads_at(t))
    saved_values = [p.data.copy() for p in first_params]  # the model's own checkpoint
    if via == "file":
        first.save(tmp_path / "opt.npz")
    state = first.state_dict()

    resumed_params = [Parameter(v, name=p.name) for v, p in zip(saved_values, first_params, strict=True)]
    resumed = build(resumed_params, emulate)
    if via == "file":
        resumed.load(tmp_path / "opt.npz")
    else:
        resumed.load_state_dict(state)
    assert resumed.global_step == 3
    for t in range(3, 6):
        resumed(grads_at(t))
    for p, q in zip(full_params, resumed_params, strict=True):
        np.testing.assert_array_equal(p.data, q.data, strict=True)
    for a, b in zip(full.accum, resumed.accum, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_state_dict_contents_are_copies():
    params = make_params()
    opt = build(params, None)
    opt(grads_at(0))
    state = opt.state_dict()
    assert state["global_step"] == 1
    assert state["names"] == ["conv.w", "emb", "bn.beta"]
    assert state["shapes"] == [[2, 16], [6, 2], [3]]
    assert state["dtypes"] == ["float32"] * 3
    assert state["hyper"] == {
        "accum": 0.1,
        "l1": 0.001,
        "l2": 0.01,
        "loss_scale": 2.0,
        "use_locking": False,
        "emulate": None,
        "prox_step": "adaptive",
    }
    state["accum"][0][...] = 7.0
    assert not np.any(opt.accum[0] == 7.0)


def test_saved_file_is_plain_npz_with_json_metadata(tmp_path):
    opt = build(make_params(), "mindspore")
    opt(grads_at(0))
    opt.save(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["accum_0", "accum_1", "accum_2", "metadata"]
        meta = json.loads(bytes(z["metadata"]).decode())
        np.testing.assert_array_equal(z["accum_1"], opt.accum[1])
    assert meta["global_step"] == 1 and meta["hyper"]["emulate"] == "mindspore"


def _mutated(state, path, value):
    out = {**state, "hyper": dict(state["hyper"]), "accum": list(state["accum"])}
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


# Each row: where the state is changed, the new value, the error, the field the message names.
MISMATCHES = [
    pytest.param(("names",), ["conv.w", "emb", "bn.gamma"], ValueError, "names", id="names"),
    pytest.param(("shapes",), [[2, 16], [6, 3], [3]], ValueError, "shapes", id="shapes"),
    pytest.param(("dtypes",), ["float64"] * 3, ValueError, "dtypes", id="dtypes"),
    pytest.param(("hyper", "l1"), 0.5, ValueError, "l1", id="hyper-l1"),
    pytest.param(("hyper", "emulate"), "mindspore", ValueError, "emulate", id="hyper-emulate"),
    pytest.param(("hyper", "loss_scale"), 1.0, ValueError, "loss_scale", id="hyper-loss-scale"),
    pytest.param(("global_step",), -1, ValueError, "global_step", id="negative-step"),
    pytest.param(("global_step",), 1.5, TypeError, "global_step", id="float-step"),
    pytest.param(("format",), "other", ValueError, "format", id="format"),
    pytest.param(("accum", 1), np.ones((6, 2), np.float64), ValueError, "accum", id="accum-dtype"),
    pytest.param(("accum", 1), np.ones((2, 6), np.float32), ValueError, "accum", id="accum-shape"),
    pytest.param(("accum", 2), -np.ones(3, np.float32), ValueError, "accum", id="accum-negative"),
    pytest.param(("accum",), [], ValueError, "accum", id="accum-count"),
]


@pytest.mark.parametrize(("path", "value", "error", "field"), MISMATCHES)
def test_mismatched_state_refused_and_nothing_changes(path, value, error, field):
    opt = build(make_params(), None)
    opt(grads_at(0))
    good = opt.state_dict()
    other = build(make_params(), None)
    other(grads_at(0))
    other(grads_at(1))
    before = [a.copy() for a in other.accum], other.global_step
    with pytest.raises(error, match=field):
        other.load_state_dict(_mutated(good, path, value))
    assert other.global_step == before[1]
    for a, b in zip(other.accum, before[0], strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_missing_field_refused():
    opt = build(make_params(), None)
    state = opt.state_dict()
    del state["hyper"]
    with pytest.raises(ValueError, match="hyper"):
        opt.load_state_dict(state)


def test_file_from_another_optimizer_refused(tmp_path):
    small = ProximalAdagrad([Parameter(np.ones(2, np.float32), name="w")])
    small.save(tmp_path / "small.npz")
    opt = build(make_params(), None)
    with pytest.raises(ValueError, match="names"):
        opt.load(tmp_path / "small.npz")
    assert opt.global_step == 0


def test_pickled_or_foreign_files_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", metadata=np.array([{"a": 1}], dtype=object))
    opt = build(make_params(), None)
    with pytest.raises(ValueError, match="allow_pickle"):
        opt.load(tmp_path / "obj.npz")
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="metadata"):
        opt.load(tmp_path / "plain.npz")


def test_state_round_trip_on_every_backend(xp: ModuleType, tmp_path):
    p = Parameter(xp.asarray(np.ones((3, 2))), name="w")
    opt = ProximalAdagrad([p], learning_rate=0.1)
    opt((xp.asarray(np.full((3, 2), 0.5)),))
    opt.save(tmp_path / "s.npz")
    q = Parameter(xp.asarray(np.ones((3, 2))), name="w")
    other = ProximalAdagrad([q], learning_rate=0.1)
    other.load(tmp_path / "s.npz")
    assert other.global_step == 1
    np.testing.assert_array_equal(to_numpy(other.accum[0]), to_numpy(opt.accum[0]))
    assert type(other.accum[0]) is type(p.data)


# --- files without pickles; files that do not match: refused, optimizer unchanged ---------------


def _rewrite_npz(path: Path, key: str, value: np.ndarray | bytes) -> None:
    """Replace entry `key` of an ``.npz`` by `value` (an array, or raw .npy bytes)."""
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    if isinstance(value, bytes):
        entries[f"{key}.npy"] = value
    else:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, value, allow_pickle=True)
        entries[f"{key}.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)


def _huge_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 16


def test_state_round_trip_without_pickle_or_eval(tmp_path: Path, no_code_from_files: list[str]) -> None:
    opt = ProximalAdagrad([Parameter(np.ones((2, 3), np.float32), name="w")])
    opt((np.ones((2, 3), np.float32),))
    opt.save(tmp_path / "s.npz")
    other = ProximalAdagrad([Parameter(np.ones((2, 3), np.float32), name="w")])
    other.load(tmp_path / "s.npz")
    assert other.global_step == 1 and no_code_from_files == []


def test_state_with_an_object_entry_is_refused_without_unpickling(
    tmp_path: Path, no_code_from_files: list[str]
) -> None:
    opt = ProximalAdagrad([Parameter(np.ones(2, np.float32), name="w")])
    opt.save(tmp_path / "s.npz")
    _rewrite_npz(tmp_path / "s.npz", "accum_0", np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ValueError, match=r"accum_0.*objects"):
        opt.load(tmp_path / "s.npz")
    assert no_code_from_files == []


def _opt() -> tuple[ProximalAdagrad, list[Parameter]]:
    params = [Parameter(np.ones((3, 2), np.float32), name="w"), Parameter(np.zeros(4, np.float32), name="b")]
    opt = ProximalAdagrad(params, learning_rate=0.1)
    opt((np.ones((3, 2), np.float32), np.ones(4, np.float32)))
    return opt, params


def _plain_npy(path: Path) -> None:
    with path.open("wb") as f:
        np.save(f, np.ones(3))


def _state_edits() -> list[Any]:
    def meta(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
        def apply(path: Path) -> None:
            with np.load(path, allow_pickle=False) as z:
                m = json.loads(bytes(z["metadata"]).decode())
            edit(m)
            _rewrite_npz(path, "metadata", np.frombuffer(json.dumps(m).encode(), np.uint8))

        return apply

    def raw(data: bytes) -> Callable[[Path], None]:
        return lambda path: path.write_bytes(data)

    return [
        pytest.param(
            lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "s.npz", id="truncated"
        ),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:30]), "s.npz", id="truncated-header"),
        pytest.param(raw(b""), "s.npz", id="empty"),
        pytest.param(raw(b"PK\x03\x04" + b"\0" * 40), "s.npz", id="bad-zip"),
        pytest.param(raw(pickle.dumps({"global_step": 1})), "s.npz", id="a-pickle"),
        pytest.param(_plain_npy, "single .npy", id="plain-npy"),
        pytest.param(
            lambda p: _rewrite_npz(p, "accum_0", _huge_header((1 << 40,))), "accum_0", id="absurd-shape"
        ),
        pytest.param(lambda p: _rewrite_npz(p, "accum_0", _huge_header((3, 2))), "accum_0", id="short-entry"),
        pytest.param(
            lambda p: _rewrite_npz(p, "metadata", _huge_header((1 << 36,))), "metadata", id="absurd-metadata"
        ),
        pytest.param(lambda p: _rewrite_npz(p, "accum_1", np.ones(4, np.int32)), "accum", id="int-accum"),
        pytest.param(
            lambda p: _rewrite_npz(p, "accum_0", np.ones((2, 3), np.float32)), "shape", id="transposed-accum"
        ),
        pytest.param(
            lambda p: _rewrite_npz(p, "accum_0", np.full((3, 2), np.nan, np.float32)[:, :1]),
            "shape",
            id="narrow-accum",
        ),
        pytest.param(
            lambda p: _rewrite_npz(p, "accum_1", np.array([1, -1, 1, 1], np.float32)),
            "negative",
            id="negative-accum",
        ),
        pytest.param(
            lambda p: _rewrite_npz(p, "metadata", np.frombuffer(b"{not json", np.uint8)),
            "JSON",
            id="metadata-not-json",
        ),
        pytest.param(meta(lambda m: m.update(names="w")), "names", id="names-not-list"),
        pytest.param(meta(lambda m: m.update(names=["w", "b", "c"])), "accum_2", id="extra-name"),
        pytest.param(meta(lambda m: m.update(global_step=True)), "global_step", id="step-bool"),
        pytest.param(meta(lambda m: m.update(global_step="3")), "global_step", id="step-str"),
        pytest.param(meta(lambda m: m["hyper"].update(prox_step="fixed")), "prox_step", id="prox-step"),
        pytest.param(meta(lambda m: m["hyper"].update(l2=float("nan"))), "l2", id="hyper-nan"),
        pytest.param(meta(lambda m: m.update(version=2)), "version", id="version"),
        pytest.param(meta(lambda m: m.pop("dtypes")), "dtypes", id="no-dtypes"),
    ]


@pytest.mark.parametrize(("corrupt", "named"), _state_edits())
def test_bad_state_file_refused_and_optimizer_unchanged(tmp_path: Path, corrupt, named: str) -> None:
    opt, params = _opt()
    path = tmp_path / "s.npz"
    opt.save(path)
    corrupt(path)
    opt((np.ones((3, 2), np.float32), np.ones(4, np.float32)))  # state now differs from the file's
    before = [p.data.tobytes() for p in params], [a.tobytes() for a in opt.accum], opt.global_step
    peak = peak_allocation(lambda: opt.load(path), refused=(ValueError, TypeError))
    with pytest.raises((ValueError, TypeError)) as info:
        opt.load(path)
    assert named in str(info.value), str(info.value)
    assert ([p.data.tobytes() for p in params], [a.tobytes() for a in opt.accum], opt.global_step) == before
    assert peak < SMALL_PEAK, f"{peak} bytes allocated while refusing the file"


def test_state_path_that_is_a_folder_or_missing(tmp_path: Path) -> None:
    opt, _ = _opt()
    with pytest.raises(FileNotFoundError):
        opt.load(tmp_path / "absent.npz")
    with pytest.raises(OSError):
        opt.load(tmp_path)
    assert opt.global_step == 1
