"""`proxadagrad-ref explain`: traced values equal the kernels' bits; JSON shape; markers; errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import SUITE, bits

from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad
from proxadagrad_ref.cli import main
from proxadagrad_ref.explain import QUANTITIES, explain_element, first_difference

WORKED = {"var": 1.0, "accum": 0.1, "grad": 0.3, "lr": 0.1, "l1": 0.05, "l2": 0.1}

ELEMENTS = [
    WORKED,
    {"var": -0.7, "accum": 0.0, "grad": 0.0, "lr": 0.5, "l1": 0.1, "l2": 0.0},  # 0/0: NaN or 0
    {"var": 0.02, "accum": 1.5, "grad": 0.1, "lr": 0.3, "l1": 0.2, "l2": 1.0},  # thresholded to 0
    {"var": 3.0, "accum": 1e-30, "grad": -2.5, "lr": 0.01, "l1": 0.0, "l2": 0.0},  # l1 = 0 path
    {"var": 1.0, "accum": 0.25, "grad": float("nan"), "lr": 0.1, "l1": 0.05, "l2": 0.1},
    {"var": "0x1.8p-1", "accum": "0x1p-3", "grad": "-0x1.4p-2", "lr": "0x1p-4", "l1": 0.01, "l2": 0.0},
]


def _bits(x: np.ndarray) -> str:
    """The first element's bits, as explain prints them."""
    v = bits(np.asarray(x).reshape(-1)[:1])
    return f"0x{int(v[0]):0{2 * v.itemsize}x}"


def _kernel(variant: dict, dtype: str, e: dict) -> np.ndarray:
    """The public kernel's output, reached independently of explain's own kernel call."""
    parse = lambda s: float.fromhex(s) if isinstance(s, str) else float(s)  # noqa: E731
    w, a, g = (np.array([parse(e[k])], dtype) for k in ("var", "accum", "grad"))
    lr, l1, l2 = (parse(e[k]) for k in ("lr", "l1", "l2"))
    emulate = None if variant["profile"] == "exact" else variant["profile"]
    kw = {"emulate": emulate, "prox_step": variant["prox_step"]}
    with np.errstate(all="ignore"):
        if variant["kernel"].startswith("sparse"):  # a 1-D table: rows of one element
            table = np.concatenate([w, np.ones(3, dtype)])
            acc = np.concatenate([a, np.ones(3, dtype)])
            return sparse_apply_proximal_adagrad(table, acc, lr, l1, l2, g, np.array([0]), **kw)[0][:1]
        n = 8 if variant["kernel"] == "dense-simd" else 7 if variant["kernel"] == "dense-tail" else 1
        # dense-tail: the element sits last in a 7-element array (4 SIMD + 3 tail elements)
        k = n - 1
        ws, as_, gs = (np.full(n, x[0], dtype) for x in (w, a, g))
        return apply_proximal_adagrad(ws, as_, lr, l1, l2, gs, **kw)[0][k : k + 1]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("element", range(len(ELEMENTS)))
def test_printed_result_equals_the_kernel_bit_for_bit(dtype: str, element: int) -> None:
    e = ELEMENTS[element]
    report = explain_element(**e, dtype=dtype)
    assert report["variants"]
    for v in report["variants"]:
        got = _kernel(v, dtype, e)
        result = v["quantities"]["result"]
        if np.isnan(got[0]):
            assert result["decimal"] == "nan"
        else:
            assert result["bits"] == _bits(got), v["id"]
        assert v["matches_kernel"] is True
        assert result["dtype"] == dtype
        # the last step of the trace is the formula's w_new; rounding it gives the result
        last = v["trace"][-1]
        assert last["name"] == "w_new"
        rounded = np.asarray(float.fromhex(last["hex"])).astype(dtype)
        assert np.isnan(got[0]) or _bits(rounded) == result["bits"]


def test_worked_example_values() -> None:
    report = explain_element(**WORKED, dtype="float32")
    by_id = {v["id"]: v for v in report["variants"]}
    assert set(by_id) >= {
        "exact/adaptive",
        "exact/fixed",
        "mindspore/dense-simd",
        "mindspore/dense-tail",
        "mindspore/sparse",
    }
    assert by_id["exact/adaptive"]["quantities"]["result"]["decimal"].startswith("0.899078")
    assert by_id["exact/fixed"]["quantities"]["result"]["decimal"].startswith("0.917005")
    # the fixed form thresholds with lr, the adaptive one with lr_t
    assert by_id["exact/fixed"]["quantities"]["threshold"]["expr"].endswith("lr * l1")
    assert by_id["exact/adaptive"]["quantities"]["threshold"]["expr"].endswith("step * l1")
    # MindSpore's SIMD kernel fuses the threshold into an FMA: never rounded on its own
    simd = by_id["mindspore/dense-simd"]["quantities"]
    assert simd["threshold"]["comparable"] is False and "fma" in simd["threshold"]["expr"]
    assert simd["accum"]["expr"] == "a_new = fma(g, g, a)"


def test_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    args = [f"--{k}={v}" for k, v in WORKED.items()]
    assert main(["explain", *args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "proxadagrad-explain" and report["format_version"] == 1
    assert set(report) == {
        "format",
        "format_version",
        "dtype",
        "inputs",
        "variants",
        "differences",
        "skipped",
    }
    value_keys = {"decimal", "bits", "hex", "dtype"}
    assert set(report["inputs"]) == {"var", "accum", "grad", "lr", "l1", "l2"}
    assert all(set(v) == value_keys for v in report["inputs"].values())
    for v in report["variants"]:
        assert {
            "id",
            "profile",
            "kernel",
            "prox_step",
            "compute_dtype",
            "formula",
            "trace",
            "quantities",
            "accum_out",
            "kernel_output",
            "matches_kernel",
            "first_difference",
        } == set(v)
        assert set(v["quantities"]) == set(QUANTITIES)
        for q in v["quantities"].values():
            assert q is None or value_keys <= set(q)
        for s in v["trace"]:
            assert {"name", "expr"} | value_keys == set(s)
            int(s["bits"], 16)
            float.fromhex(s["hex"])
    for d in report["differences"]:
        assert set(d) == {"a", "b", "first"}
        assert d["first"] is None or {"quantity", "a", "b", "compared_in"} == set(d["first"])


def test_where_they_differ_marker(capsys: pytest.CaptureFixture[str]) -> None:
    report = explain_element(**WORKED, dtype="float32")
    pairs = {(d["a"], d["b"]): d["first"] for d in report["differences"]}
    # the fused sparse kernel rounds g*g before adding: its accumulator is one ulp lower
    assert pairs[("exact/adaptive", "mindspore/sparse")]["quantity"] == "accum"
    # the tail rounds s*l1 to float32 where the exact profile keeps it in float64
    assert pairs[("exact/adaptive", "mindspore/dense-tail")]["quantity"] == "threshold"
    assert pairs[("mindspore/dense-simd", "mindspore/dense-tail")]["quantity"] == "result"
    assert ("exact/adaptive", "exact/fixed") not in pairs  # different prox forms are not compared
    by_id = {v["id"]: v for v in report["variants"]}
    assert by_id["exact/adaptive"]["first_difference"] is None
    assert by_id["mindspore/sparse"]["first_difference"]["against"] == "exact/adaptive"
    assert first_difference(by_id["exact/adaptive"], by_id["exact/adaptive"]) is None

    assert main(["explain", *[f"--{k}={v}" for k, v in WORKED.items()]]) == 0
    out = capsys.readouterr().out
    assert "<-- first differs from exact/adaptive" in out
    assert "mindspore/dense-simd vs mindspore/dense-tail: first at result" in out
    assert "0x3f6629fe" in out and "0x3f6629fd" in out


def test_identical_profiles_say_so() -> None:
    report = explain_element(var=1.0, accum=0.0, grad=1.0, lr=0.5, dtype="float32")
    pairs = {(d["a"], d["b"]): d["first"] for d in report["differences"]}
    assert pairs[("exact/adaptive", "mindspore/dense-simd")] is None


def test_float64_skips_profiles_without_a_kernel() -> None:
    report = explain_element(**WORKED, dtype="float64")
    assert "mindspore" not in {v["profile"] for v in report["variants"]}
    assert any(s["profile"] == "mindspore" for s in report["skipped"])
    half = explain_element(**WORKED, dtype="float16")
    assert any(s["profile"] == "mindspore/sparse" for s in half["skipped"])


def test_case_mode(capsys: pytest.CaptureFixture[str]) -> None:
    case = SUITE / "dense-random-strong-float16-mindspore-adaptive-n24-v0"
    for index, path in ((0, "mindspore/dense-simd"), (23, "mindspore/dense-simd")):
        assert main(["explain", "--case", str(case), "--index", str(index), "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["case"]["variant"] == path
        assert report["case"]["matches_expected"] is True
    manifest = json.loads((SUITE / "manifest.json").read_text())
    picked = [c["id"] for c in manifest["cases"] if "mindspore" in c["id"] and "-n24-" not in c["id"]]
    for cid in picked[:3]:
        code = main(["explain", "--case", str(SUITE / cid), "--index", "0", "--format", "json"])
        out, err = capsys.readouterr()
        if code == 0:
            info = json.loads(out)["case"]
            assert info.get("matches_expected", True) is True
        else:
            assert code == 2 and "proxadagrad-ref explain:" in err


def test_duplicated_sparse_row_is_refused() -> None:
    manifest = json.loads((SUITE / "manifest.json").read_text())
    dup = next(
        c["id"] for c in manifest["cases"] if c["id"].startswith("sparse-duplicate") and "-rows-" in c["id"]
    )
    from proxadagrad_ref.explain import explain_case
    from proxadagrad_ref.vectors.format import read_case

    case = read_case(SUITE / "cases" / f"{dup}.json")
    idx = case.group("inputs")["indices"]
    values, counts = np.unique(idx, return_counts=True)
    row = int(np.flatnonzero(idx == values[counts > 1][0])[0])
    per_row = int(np.prod(case.group("inputs")["grad"].shape[1:]))
    with pytest.raises(ValueError, match=r"appears \d+ times in indices"):
        explain_case(str(SUITE / dup), row * per_row)


@pytest.mark.parametrize("profile", ["exact", "mindspore", "tensorflow"])
def test_case_mode_picks_the_sparse_path_of_each_column(profile: str) -> None:
    """Sparse cases: the variant explain picks per element reproduces the case's expected bits.

    TensorFlow's sparse kernel takes its packet path, its scalar tail (the last
    ``row % 8`` float32 columns) or its one-element-row loop by column; the
    suite's rows of 3 elements are all tail.
    """
    from proxadagrad_ref.explain import explain_case
    from proxadagrad_ref.vectors.format import read_case

    manifest = json.loads((SUITE / "manifest.json").read_text())
    ids = [c["id"] for c in manifest["cases"]
           if c["id"].startswith(("sparse-unique", "sparse-unsorted")) and f"-{profile}-" in c["id"]]
    assert ids
    for cid in ids[:4]:
        rows = read_case(SUITE / "cases" / f"{cid}.json").group("inputs")["grad"]
        for index in range(rows.size):
            info = explain_case(str(SUITE / cid), index)["case"]
            assert info["matches_expected"] is True, (cid, index, info.get("variant"))
