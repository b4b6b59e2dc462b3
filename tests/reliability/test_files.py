"""Files are data: vector suites, results and optimizer state load without pickle or eval.

Paths that escape their folder, checksum mismatches, truncation, wrong dtype
tags and shapes are refused naming the file and the field; an absurd declared
shape is refused before anything of that size is allocated; a state file
that does not match leaves the optimizer unchanged; an interrupted generation
leaves no half-written suite. (``test_vectors_format.py`` and ``test_state.py``
cover the basic refusals; these are the ones they do not.)
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import SMALL_PEAK, case_meta, copy_suite, peak_allocation

from proxadagrad_ref import Parameter, ProximalAdagrad
from proxadagrad_ref.vectors import FormatError, generate, read_suite
from proxadagrad_ref.vectors import format as format_module
from proxadagrad_ref.vectors import generator as generator_module
from proxadagrad_ref.vectors.format import (
    Case,
    canonical_json,
    read_case,
    read_results,
    write_case,
    write_results,
)
from proxadagrad_ref.vectors.verifier import verify


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_code_from_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make pickle, eval and ``np.load(allow_pickle=True)`` fail loudly while a test reads files.

    Modules imported lazily on first use (jsonschema builds namedtuples with
    ``eval``) are imported first: only what reading a file does is watched.
    """
    for kind in ("case", "manifest", "results"):
        with contextlib.suppress(FormatError):
            format_module._validate({}, kind, "warm-up")
    used: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def _refuse(*args: Any, **kwargs: Any) -> Any:
            used.append(what)
            raise AssertionError(f"{what} called while reading a data file")

        return _refuse

    for attr in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, attr, refuse(f"pickle.{attr}"))
    monkeypatch.setattr(builtins, "eval", refuse("eval"))
    real_load = np.load

    def guarded_load(*args: Any, allow_pickle: bool = False, **kwargs: Any) -> Any:
        if allow_pickle:
            used.append("np.load(allow_pickle=True)")
        return real_load(*args, allow_pickle=False, **kwargs)

    monkeypatch.setattr(np, "load", guarded_load)
    return used


# --- no pickle, no eval -----------------------------------------------------------------------------


def test_suite_and_results_read_without_pickle_or_eval(
    smoke: Path, tmp_path: Path, no_code_from_files: list[str]
) -> None:
    cases = list(read_suite(smoke))
    assert cases
    report = verify(smoke)
    assert report.passed
    write_results(tmp_path, cases[0].id, {"var_out": np.ones(2, np.float32)})
    read_results(tmp_path, cases[0].id)
    assert no_code_from_files == []


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


# --- paths that escape their folder ----------------------------------------------------------------


def test_case_file_symlinked_outside_the_folder_is_refused(smoke: Path, tmp_path: Path) -> None:
    s = copy_suite(smoke, tmp_path)
    outside = tmp_path / "outside.json"
    first = sorted((s / "cases").glob("*.json"))[0]
    shutil.copy(first, outside)
    first.unlink()
    first.symlink_to(outside)
    with pytest.raises(FormatError, match=r"cases\[\d+\]\.file.*escapes"):
        list(read_suite(s))


def test_payload_symlinked_outside_the_folder_is_refused(smoke: Path, tmp_path: Path) -> None:
    s = copy_suite(smoke, tmp_path)
    blob = sorted((s / "cases").glob("*.bin"))[0]
    outside = tmp_path / "outside.bin"
    shutil.copy(blob, outside)
    blob.unlink()
    blob.symlink_to(outside)
    with pytest.raises(FormatError, match=r"payload\.file.*escapes"):
        list(read_suite(s))


@pytest.mark.parametrize(
    "name", ["cases/..", "./../x.json", "cases\\..\\..\\x.json", "//host/share/x.json", "cases/x\x00.json"]
)
def test_more_escaping_manifest_paths_refused(smoke: Path, tmp_path: Path, name: str) -> None:
    s = copy_suite(smoke, tmp_path)
    manifest = json.loads((s / "manifest.json").read_text())
    manifest["cases"][0]["file"] = name
    (s / "manifest.json").write_bytes(canonical_json(manifest))
    with pytest.raises(FormatError, match=r"manifest\.json: field cases\[0\]\.file"):
        list(read_suite(s))


# --- manifest and results refusals naming file and field ---------------------------------------------


def _edit_manifest(s: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((s / "manifest.json").read_text())
    edit(manifest)
    (s / "manifest.json").write_bytes(canonical_json(manifest))


MANIFEST_EDITS = [
    pytest.param(lambda m: m["cases"][0].update(sha256="0" * 64), r"SHA-256.*manifest", id="case-sha"),
    pytest.param(lambda m: m["cases"][0].update(sha256="xyz"), r"cases\.0\.sha256", id="sha-not-hex"),
    pytest.param(lambda m: m["cases"][1].update(id=m["cases"][0]["id"]), r"cases\[1\]\.id", id="dup-id"),
    pytest.param(lambda m: m["cases"][0].update(file="cases/absent.json"), "not found", id="missing-file"),
    pytest.param(lambda m: m["cases"][0].update(id="other-id"), "field 'id'", id="id-mismatch"),
    pytest.param(lambda m: m.update(format_version=2), "format_version", id="format-version"),
    pytest.param(lambda m: m.update(cases={}), r"field cases", id="cases-not-list"),
    pytest.param(lambda m: m.update(extra=1), r"manifest\.json", id="unknown-field"),
    pytest.param(lambda m: m["cases"][0].pop("sha256"), r"sha256", id="no-sha"),
]


@pytest.mark.parametrize(("edit", "match"), MANIFEST_EDITS)
def test_bad_manifest_refused_naming_file_and_field(smoke: Path, tmp_path: Path, edit, match: str) -> None:
    s = copy_suite(smoke, tmp_path)
    _edit_manifest(s, edit)
    with pytest.raises(FormatError, match=match) as info:
        list(read_suite(s))
    assert ".json" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param(b"", "not valid UTF-8 JSON", id="empty"),
        pytest.param(b'{"format": NaN}', "NaN", id="nan-constant"),
        pytest.param(b"[1, 2]", "top level", id="array"),
        pytest.param(b"\xff\xfe", "not valid UTF-8", id="not-utf8"),
        pytest.param(b'{"format": "proxadagrad-vectors"', "not valid UTF-8 JSON", id="truncated"),
    ],
)
def test_unparsable_manifest_refused(smoke: Path, tmp_path: Path, raw: bytes, match: str) -> None:
    s = copy_suite(smoke, tmp_path)
    (s / "manifest.json").write_bytes(raw)
    with pytest.raises(FormatError, match="manifest.json.*" + match):
        list(read_suite(s))


def _results(tmp_path: Path) -> Path:
    write_results(tmp_path, "c1", {"var_out": np.arange(4, dtype=np.float32)})
    return tmp_path


RESULT_EDITS = [
    pytest.param("bin", lambda b: b[:-4], "truncated", id="truncated"),
    pytest.param("bin", lambda b: bytes([b[0] ^ 1]) + b[1:], r"SHA-256.*payload\.sha256", id="checksum"),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(dtype="float80"), r"var_out\.dtype", id="dtype-tag"
    ),
    pytest.param(
        "json",
        lambda m: m["outputs"]["var_out"].update(dtype="float64"),
        r"var_out\.nbytes",
        id="dtype-wider",
    ),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(shape=[2, 3]), r"var_out\.nbytes", id="shape"
    ),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(shape=[-4]), r"var_out", id="shape-negative"
    ),
    pytest.param("json", lambda m: m["outputs"]["var_out"].update(shape=[4.0]), r"var_out", id="shape-float"),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(offset=-8), r"var_out", id="offset-negative"
    ),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(offset=4), r"var_out\.offset", id="misaligned"
    ),
    pytest.param("json", lambda m: m.update(id="c2"), r"field 'id'", id="id"),
    pytest.param(
        "json",
        lambda m: m["payload"].update(file="/etc/hostname"),
        r"payload\.file.*escapes",
        id="payload-absolute",
    ),
]


@pytest.mark.parametrize(("which", "edit", "match"), RESULT_EDITS)
def test_bad_results_file_refused_naming_file_and_field(tmp_path: Path, which: str, edit, match: str) -> None:
    folder = _results(tmp_path)
    if which == "bin":
        path = folder / "c1.bin"
        path.write_bytes(edit(path.read_bytes()))
    else:
        path = folder / "c1.json"
        meta = json.loads(path.read_text())
        edit(meta)
        path.write_bytes(canonical_json(meta))
    with pytest.raises(FormatError, match=match) as info:
        read_results(folder, "c1")
    assert "c1." in str(info.value)


# --- absurd declared shapes: refused before allocating ---------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [[1 << 40], [1 << 20, 1 << 20, 1 << 20], [1 << 26], [0, 1 << 62, 1 << 62]],
    ids=["2^40", "2^60-3d", "at-limit", "zero-times-huge"],
)
def test_absurd_case_shape_refused_before_allocating(tmp_path: Path, shape: list[int]) -> None:
    write_case(tmp_path, Case(case_meta(), {"inputs.var": np.arange(4, dtype=np.float32)}))
    path = tmp_path / "x.json"
    meta = json.loads(path.read_text())
    count = 1
    for d in shape:
        count *= d
    meta["inputs"]["var"].update(shape=shape, nbytes=count * 4)
    path.write_bytes(canonical_json(meta))
    with pytest.raises(FormatError, match=r"x\.json: field inputs\.var"):
        read_case(path)
    assert peak_allocation(lambda: read_case(path), refused=(ValueError, TypeError)) < SMALL_PEAK


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


# --- state files that do not match: refused, optimizer unchanged -------------------------------------


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


# --- interrupted generation leaves no half-written suite -------------------------------------------


@pytest.mark.parametrize("when", ["first-case", "third-case", "manifest"])
@pytest.mark.parametrize("existing", [True, False], ids=["over-old-suite", "fresh-folder"])
def test_interrupted_generation_leaves_no_half_written_suite(
    smoke: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str, existing: bool
) -> None:
    dest = tmp_path / "suite"
    if existing:
        shutil.copytree(smoke, dest)
    before = _tree(dest) if existing else None
    calls = {"n": 0}
    real_write_case, real_write_manifest = generator_module.write_case, generator_module.write_manifest

    def write_case_then_stop(folder: Path, case: Case) -> Any:
        calls["n"] += 1
        out = real_write_case(folder, case)
        if (when, calls["n"]) in (("first-case", 1), ("third-case", 3)):
            raise KeyboardInterrupt  # Ctrl-C after a case's files were written
        return out

    def write_manifest_then_stop(*args: Any) -> None:
        real_write_manifest(*args)
        if when == "manifest":
            raise KeyboardInterrupt

    monkeypatch.setattr(generator_module, "write_case", write_case_then_stop)
    monkeypatch.setattr(generator_module, "write_manifest", write_manifest_then_stop)
    with pytest.raises(KeyboardInterrupt):
        generate(dest, "smoke")
    assert sorted(os.listdir(tmp_path)) == (["suite"] if existing else [])
    if existing:
        assert _tree(dest) == before
        assert len(list(read_suite(dest))) == len(list(read_suite(smoke)))
