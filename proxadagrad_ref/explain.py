"""Explain one element's update: every intermediate value in every profile (``proxadagrad-ref explain``).

Nothing here restates a formula. Each profile formula of
:mod:`proxadagrad_ref.numerics.profiles` is *run* on one-element arrays by
:func:`proxadagrad_ref.numerics.interpret.trace`, which leaves its code
untouched: every Python-operator step (``+``, ``*``, ``/``, unary ``-``) and
every call of the vocabulary (``sqrt``, ``fma``, ``positive_part``, ...) is
recorded with its value.

Each recorded step is one rounding (or one exact conversion) of the kernel;
the formula's own local variable names label the steps they are bound to.
From the trace, the named quantities are read off: ``accum`` (the returned
accumulator), ``lr_t`` (the per-coordinate step ``lr / sqrt(accum)``),
``prox_v`` (the gradient step), ``threshold`` (the first step that uses
``l1``; inside an FMA it is never rounded on its own), ``denominator``
(``1 + s*l2``) and ``result`` (the output in the parameter dtype). Every
variant's output is also computed by the public kernel and checked bit for bit.

Examples
--------
>>> from proxadagrad_ref.explain import explain_element
>>> report = explain_element(var=1.0, accum=0.1, grad=0.3, lr=0.1, l1=0.05, l2=0.1, dtype="float32")
>>> for v in [v for v in report["variants"] if v["profile"] != "tensorflow"]:
...     print(f'{v["id"]:<22} {v["quantities"]["result"]["decimal"]:<11} {v["quantities"]["result"]["bits"]}')
exact/adaptive         0.89907825  0x3f6629fe
exact/fixed            0.91700524  0x3f6ac0db
mindspore/dense-simd   0.8990782   0x3f6629fd
mindspore/dense-tail   0.89907825  0x3f6629fe
mindspore/sparse       0.8990782   0x3f6629fd
>>> all(v["matches_kernel"] for v in report["variants"])
True

"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backends.compat import FLOAT_NAMES, numpy_namespace
from .engines import reference
from .engines.step import Elementwise
from .kernels.checks import check_hyperparameter
from .kernels.dense import apply_proximal_adagrad
from .kernels.sparse import sparse_apply_proximal_adagrad
from .numerics.interpret import Traced, trace
from .numerics.profiles import PROFILES, Formula, Profile

__all__ = ["QUANTITIES", "explain_case", "explain_element", "format_text"]

QUANTITIES = ("accum", "lr_t", "prox_v", "threshold", "denominator", "result")
"""The named quantities of each variant, in the order the update computes them."""

DTYPES = FLOAT_NAMES

_LOCAL_ALIASES = {
    "lr_t": ("step", "lr_t", "eta"),
    "prox_v": ("prox_v", "v"),
    "denominator": ("den", "denominator"),
}


# --- formatting of one value ------------------------------------------------------------------------------


def _scalar(x: Any) -> np.floating[Any]:
    return np.asarray(x).reshape(-1)[0]


def _bits(v: np.floating[Any]) -> str:
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[v.dtype.itemsize]
    return f"0x{int(np.asarray(v).view(uint)):0{2 * v.dtype.itemsize}x}"


def _decimal(v: np.floating[Any]) -> str:
    if not np.isfinite(v) or v == 0 or 1e-4 <= abs(float(v)) < 1e7:
        return np.format_float_positional(v, unique=True, trim="-")
    return np.format_float_scientific(v, unique=True, trim="-")


def describe_value(x: Any) -> dict[str, str]:
    """``{"decimal", "bits", "hex", "dtype"}`` of a scalar or one-element array (shortest decimal)."""
    v = _scalar(x)
    return {"decimal": _decimal(v), "bits": _bits(v), "hex": float(v).hex(), "dtype": str(v.dtype)}


def _same(x: Any, y: Any) -> bool:
    """Bit equality, any NaN equal to any NaN."""
    a, b = _scalar(x), _scalar(y)
    if np.isnan(a) and np.isnan(b):
        return True
    return a.dtype == b.dtype and _bits(a) == _bits(b)


# --- one traced step -------------------------------------------------------------------------------------


@dataclass
class Step:
    """One recorded operation: ``label = expr``, its value, and what it consumed."""

    label: str
    op: str
    args: tuple[str, ...]
    value: np.ndarray
    index: int

    @property
    def expr(self) -> str:
        """The operation as text, e.g. ``fma(-g, step, w)``."""
        infix = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}
        if self.op in infix and len(self.args) == 2:
            return f"{self.args[0]} {infix[self.op]} {self.args[1]}"
        if self.op == "negative":
            return f"-{self.args[0]}"
        return f"{self.op}({', '.join(self.args)})"


_LEAVES = ("w", "a", "g", "lr", "l1", "l2")


def _steps(traced: Any) -> list[Step]:
    """The trace's arithmetic steps (branch conditions left out), labelled by the formula's own names.

    A step bound to a local variable takes its name (first name wins);
    the others are numbered ``t1, t2, ...`` in order.
    """
    labels = dict(enumerate(_LEAVES))
    steps: list[Step] = []
    for step in traced.steps:
        if step.value.dtype == np.bool_:  # ``if l1 > 0``: a branch, not an operation of the kernel
            continue
        index = step.value.index
        label = traced.names.get(index, f"t{len(steps) + 1}")
        args = tuple(
            labels[a.index] if isinstance(a, Traced) else repr(a) for a in step.args
        )
        labels[index] = label
        steps.append(Step(label, step.op, args, step.value.sample, index))
    return steps


# --- variants -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One kernel path of one profile: which formula, and how the public kernel reaches it."""

    id: str
    profile: Profile
    kernel: str  # "dense", "dense-simd", "dense-tail", "sparse", "sparse-column"
    prox_step: str
    formula: Formula

    def run_kernel(self, var: np.ndarray, accum: np.ndarray, grad: np.ndarray, hyper: tuple[Any, ...]) -> Any:
        """The public kernel's output for this element, reached through this variant's path."""
        emulate = None if self.profile.name == "exact" else self.profile.name
        kw: dict[str, Any] = {"prox_step": self.prox_step, "emulate": emulate}
        lr, l1, l2 = hyper
        if self.kernel.startswith("sparse"):  # a one-element table: rows of one element
            out, _ = sparse_apply_proximal_adagrad(var, accum, lr, l1, l2, grad, np.array([0]), **kw)
            return out[:1]
        copies = self.profile.block(str(var.dtype)) if self.kernel == "dense-simd" else 1
        w, a, g = (np.repeat(x, copies) for x in (var, accum, grad))
        out, _ = apply_proximal_adagrad(w, a, lr, l1, l2, g, engine="reference", **kw)
        return out[:1]


def variants(dtype: str) -> tuple[list[Variant], list[dict[str, str]]]:
    """The kernel paths that define `dtype`, and the profiles skipped (with the reason)."""
    found: list[Variant] = []
    skipped: list[dict[str, str]] = []
    for name, profile in PROFILES.items():
        dense_ok = dtype in profile.dtypes
        sparse_ok = dtype in (profile.sparse_dtypes or profile.dtypes)
        if not dense_ok and not sparse_ok:
            skipped.append(
                {"profile": name, "reason": f"no kernel for {dtype} (has {', '.join(profile.dtypes)})"}
            )
            continue
        for step in profile.prox_steps:
            tag = f"{name}/{step}" if len(profile.prox_steps) > 1 else name
            paths: list[tuple[str, Formula]] = []
            if dense_ok and profile.tail is not None:
                paths += [("dense-simd", profile.dense), ("dense-tail", profile.tail)]
            elif dense_ok:
                paths.append(("dense", profile.dense))
            if sparse_ok and (profile.sparse is not profile.dense or not dense_ok):
                paths.append(("sparse", profile.sparse))
            if sparse_ok and profile.sparse_column is not None:  # TensorFlow's one-element-row loop
                paths.append(("sparse-column", profile.sparse_column))
            elif not sparse_ok and profile.sparse is not profile.dense and step == profile.prox_steps[0]:
                sparse_has = ", ".join(profile.sparse_dtypes or profile.dtypes)
                skipped.append(
                    {"profile": f"{name}/sparse", "reason": f"no {dtype} kernel (has {sparse_has})"}
                )
            single = len(paths) == 1 and len(profile.prox_steps) > 1
            for kernel, formula in paths:
                vid = tag if single else f"{tag}/{kernel}"
                found.append(Variant(vid, profile, kernel, step, formula))
    return found, skipped


# --- one variant, traced ------------------------------------------------------------------------------------


def _first_consumer(steps: list[Step], label: str, start: int = 0) -> Step | None:
    """The first step using `label`, skipping steps that rebind it (``l1 = flush(l1)``)."""
    return next((s for s in steps[start:] if label in s.args and s.label != label), None)


def _quantities(
    steps: list[Step], named: dict[str, str], w_index: int, a_index: int, l1_zero: bool
) -> dict[str, Any]:
    by_label = {s.label: s for s in steps}

    def local(key: str) -> Step | None:
        for alias in _LOCAL_ALIASES[key]:
            if alias in named and named[alias] in by_label:
                return by_label[named[alias]]
        return None

    out: dict[str, Any] = {}
    accum_step = next((s for s in steps if s.index == a_index), None)
    out["accum"] = accum_step
    out["lr_t"] = local("lr_t")
    out["prox_v"] = local("prox_v")
    threshold = None if l1_zero else _first_consumer(steps, "l1")
    out["threshold"] = threshold
    den = local("denominator")
    if den is None:
        uses_l2 = _first_consumer(steps, "l2")
        if uses_l2 is not None and uses_l2.op != "fma":
            den = _first_consumer(steps, uses_l2.label, steps.index(uses_l2) + 1)
        else:
            den = uses_l2
    out["denominator"] = den
    return out


def trace_variant(
    variant: Variant, var: np.ndarray, accum: np.ndarray, grad: np.ndarray, hyper: tuple[Any, ...]
) -> dict[str, Any]:
    """Run one variant's formula on one element, traced; return its steps, quantities and output."""
    xp = numpy_namespace()
    task = Elementwise(variant.profile, variant.formula, xp, var, accum, grad, hyper,
                       variant.prox_step == "adaptive")
    wide = reference.widened(task)
    inputs = wide[0] if wide is not None else [var, accum, grad, *hyper]
    traced = trace(variant.formula, inputs[:3], inputs[3:], task.adaptive, trace_hyper=True, names=True)
    w_new, a_new = traced.outputs
    w_out = np.asarray(w_new.sample).astype(var.dtype)
    a_out = np.asarray(a_new.sample).astype(var.dtype)
    compute = str(np.dtype(variant.profile.compute_dtype(xp, var.dtype)))
    steps = _steps(traced)
    named = {s.label: s.label for s in steps if s.index in traced.names}
    l1 = inputs[4]
    picks = _quantities(steps, named, w_new.index, a_new.index, float(_scalar(l1)) == 0.0)
    quantities: dict[str, Any] = {}
    for key, s in picks.items():
        if s is None:
            quantities[key] = None
            continue
        entry = {**describe_value(s.value), "expr": f"{s.label} = {s.expr}", "comparable": True}
        if key == "threshold" and s.op == "fma":
            entry["comparable"] = False
            entry["note"] = "fused: |v| - s*l1 in one rounding, the threshold is never rounded on its own"
        quantities[key] = entry
    quantities["result"] = {**describe_value(w_out), "expr": f"var_out = {_rounding(compute, var.dtype)}"}
    kernel_out = variant.run_kernel(var, accum, grad, hyper)
    return {
        "id": variant.id,
        "profile": variant.profile.name,
        "kernel": variant.kernel,
        "prox_step": variant.prox_step,
        "compute_dtype": compute,
        "formula": f"{variant.formula.__module__}.{variant.formula.__qualname__}",
        "trace": [{"name": s.label, "expr": s.expr, **describe_value(s.value)} for s in steps],
        "quantities": quantities,
        "accum_out": describe_value(a_out),
        "kernel_output": describe_value(kernel_out),
        "matches_kernel": _same(kernel_out, w_out),
    }


def _rounding(compute: str, dtype: Any) -> str:
    return "w_new" if compute == str(dtype) else f"{dtype}(w_new)  (one rounding of the {compute} result)"


# --- comparisons ---


def _narrower(a: str, b: str) -> str:
    return a if np.dtype(a).itemsize <= np.dtype(b).itemsize else b


def first_difference(x: dict[str, Any], y: dict[str, Any]) -> dict[str, Any] | None:
    """The first named quantity where variants `x` and `y` differ (compared in the narrower compute dtype)."""
    compare_in = _narrower(x["compute_dtype"], y["compute_dtype"])
    for key in QUANTITIES:
        qx, qy = x["quantities"].get(key), y["quantities"].get(key)
        if qx is None or qy is None or not qx.get("comparable", True) or not qy.get("comparable", True):
            continue
        dt = np.dtype(qx["dtype"]) if key == "result" else np.dtype(compare_in)
        vx = np.asarray(float.fromhex(qx["hex"])).astype(dt)
        vy = np.asarray(float.fromhex(qy["hex"])).astype(dt)
        if np.isnan(vx) and np.isnan(vy):
            continue
        if _bits(_scalar(vx)) != _bits(_scalar(vy)):
            return {"quantity": key, "a": describe_value(vx), "b": describe_value(vy), "compared_in": str(dt)}
    return None


def _differences(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For every pair of variants with the same prox step: where they first differ (or ``None``)."""
    pairs = []
    for i, x in enumerate(results):
        for y in results[i + 1 :]:
            if x["prox_step"] != y["prox_step"]:
                continue
            pairs.append({"a": x["id"], "b": y["id"], "first": first_difference(x, y)})
    return pairs


# --- entry points ---


def _parse_number(name: str, text: str | float) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip()
    try:
        if s.lower().lstrip("+-").startswith("0x"):
            return float.fromhex(s)
        return float(s)
    except ValueError:
        raise ValueError(
            f"--{name} must be a decimal or hex float (e.g. 0.1 or 0x1.99999ap-4), got {text!r}"
        ) from None


def explain_element(
    *,
    var: float | str,
    accum: float | str,
    grad: float | str,
    lr: float | str,
    l1: float | str = 0.0,
    l2: float | str = 0.0,
    dtype: str = "float32",
) -> dict[str, Any]:
    """Trace one element's update in every profile and prox form; return a JSON-ready report.

    Values may be numbers or strings (decimal or hex float); they are rounded
    to `dtype` (the hyper-parameters to the dtype the kernels receive them in)
    exactly as the public kernels do, and their errors are the kernels' errors.
    """
    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    cls = np.dtype(dtype).type
    with np.errstate(over="ignore"):
        w, a, g = (
            np.array([_parse_number(n, v)], dtype=cls)
            for n, v in (("var", var), ("accum", accum), ("grad", grad))
        )
    if bool(a[0] < 0):
        raise ValueError(f"--accum must be non-negative, got {accum!r}")
    xp = numpy_namespace()
    hyper = tuple(
        np.asarray(check_hyperparameter(n, _parse_number(n, v), w, xp))
        for n, v in (("lr", lr), ("l1", l1), ("l2", l2))
    )
    found, skipped = variants(dtype)
    with np.errstate(all="ignore"):  # IEEE special values are part of what is explained
        results = [trace_variant(v, w, a, g, hyper) for v in found]
        baseline = {r["prox_step"]: r for r in reversed(results) if r["profile"] == "exact"}
        for r in results:
            base = baseline.get(r["prox_step"])
            r["first_difference"] = (
                None
                if base is None or base is r
                else {"against": base["id"], **(first_difference(base, r) or {})}
            )
        differences = _differences(results)
    return {
        "format": "proxadagrad-explain",
        "format_version": 1,
        "dtype": dtype,
        "inputs": {
            "var": describe_value(w),
            "accum": describe_value(a),
            "grad": describe_value(g),
            "lr": describe_value(hyper[0]),
            "l1": describe_value(hyper[1]),
            "l2": describe_value(hyper[2]),
        },
        "variants": results,
        "differences": differences,
        "skipped": skipped,
    }


def _case_path(spec: str) -> Path:
    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        return path
    candidate = path.parent / "cases" / f"{path.name}.json"
    if candidate.is_file():
        return candidate
    raise ValueError(f"--case {spec!r}: no case file {candidate} (give SUITE_DIR/CASE_ID or a case .json)")


def explain_case(spec: str, index: int) -> dict[str, Any]:
    """Explain element `index` of a vector case (``SUITE_DIR/CASE_ID``); report the case's expected value too.

    Dense cases: `index` is a flat index into ``var``. Sparse cases with row
    gradients: a flat index into the gradient rows (the element of ``var`` it
    updates is reported); a row repeated in ``indices`` is refused, since its
    update is not the update of one element.
    """
    from .vectors.format import read_case

    case = read_case(_case_path(spec))
    meta, inputs = case.meta, case.group("inputs")
    expected = case.group("expected")
    var = inputs["var"]
    row_len: int | None = None  # elements per gradient row (sparse cases)
    if meta["op"] == "dense":
        size = var.size
        if not 0 <= index < size:
            raise ValueError(f"--index must lie in [0, {size}) for case {case.id}, got {index}")
        w, a, g = (inputs[k].reshape(-1)[index] for k in ("var", "accum", "grad"))
        where: Any = index
        out_at = (lambda x: x.reshape(-1)[index]) if "var_out" in expected else None
    else:
        if meta["options"].get("grad_format", "rows") != "rows" or "indices" not in inputs:
            raise ValueError(f"case {case.id}: explain reads sparse cases with row gradients only")
        rows, idx = inputs["grad"], inputs["indices"]
        row_len = int(np.prod(rows.shape[1:]))
        if not 0 <= index < rows.size:
            raise ValueError(
                f"--index must lie in [0, {rows.size}) (the gradient rows) for case {case.id}, got {index}"
            )
        r, col = divmod(index, row_len)
        target = int(idx[r])
        if int(np.sum(idx == target)) > 1:
            raise ValueError(
                f"case {case.id}: row {target} appears {int(np.sum(idx == target))} times in indices; "
                "explain follows one update of one element (pick an index of an unrepeated row)"
            )
        w, a = (inputs[k].reshape(var.shape[0], -1)[target, col] for k in ("var", "accum"))
        g = rows.reshape(rows.shape[0], -1)[r, col]
        where = [target, col]
        out_at = (lambda x: x.reshape(var.shape[0], -1)[target, col]) if "var_out" in expected else None
    h = meta["hyper"]
    report = explain_element(
        var=float(w),
        accum=float(a),
        grad=float(g),
        lr=h["lr"],
        l1=h["l1"],
        l2=h["l2"],
        dtype=str(var.dtype),
    )
    info: dict[str, Any] = {
        "id": case.id,
        "op": meta["op"],
        "profile": meta["profile"],
        "prox_step": meta["prox_step"],
        "index": index,
        "element": where,
    }
    if out_at is not None:
        want = out_at(expected["var_out"])
        info["expected_var_out"] = describe_value(want)
        matching = _case_variant(
            report["variants"], meta, index, var.size, row_len, str(var.dtype)
        )
        if matching is not None:
            info["variant"] = matching["id"]
            got = np.asarray(float.fromhex(matching["quantities"]["result"]["hex"]), dtype=want.dtype)
            info["matches_expected"] = _same(got, want)
    report["case"] = info
    return report


def _case_variant(
    results: list[dict[str, Any]], meta: dict[str, Any], index: int, size: int, row_len: int | None = None,
    dtype: str = "float32",
) -> Any:
    """The variant a case's kernel takes for this element.

    Dense: SIMD body or scalar tail by position in the flattened array. Sparse
    (`row_len` elements per row): the profile's formula for the element's
    column -- one-element rows, the last ``row_len % block`` columns of a row
    (the scalar tail), or the rest -- found among the variants by formula.
    """
    same = [r for r in results if r["profile"] == meta["profile"] and r["prox_step"] == meta["prox_step"]]
    profile = PROFILES.get(meta["profile"])
    if meta["op"] == "sparse" and profile is not None and row_len is not None:
        col = index % row_len
        formula = profile.sparse
        if profile.sparse_column is not None and row_len == 1:
            formula = profile.sparse_column
        elif profile.sparse_tail is not None and col >= row_len - row_len % profile.block(dtype):
            formula = profile.sparse_tail
        kernels = {v.kernel for v in variants(dtype)[0]
                   if v.profile is profile and v.prox_step == meta["prox_step"] and v.formula is formula}
        pick = [r for r in same if r["kernel"] in kernels]
    elif profile is not None and profile.tail is not None:
        head = size - size % profile.tail_block
        pick = [r for r in same if r["kernel"] == ("dense-tail" if index >= head else "dense-simd")]
    else:
        pick = [r for r in same if r["kernel"] != "sparse"]
    return pick[0] if pick else None


# --- text output ---


def format_text(report: dict[str, Any]) -> str:
    """The human-readable form of a report: inputs, then per variant its steps and named quantities."""
    lines: list[str] = []

    def val(v: dict[str, str]) -> str:
        return f"{v['decimal']:>24}  {v['bits']:<18}  {v['hex']}"

    lines.append(f"one element, dtype {report['dtype']} (each value: decimal, bits, exact hex float)")
    for k, v in report["inputs"].items():
        lines.append(f"  {k:<8} {val(v)}")
    if "case" in report:
        c = report["case"]
        lines.append(f"case {c['id']} element {c['element']} ({c['op']}, {c['profile']}, {c['prox_step']})")
        if "expected_var_out" in c:
            lines.append(f"  expected var_out {val(c['expected_var_out'])}")
            if "variant" in c:
                verdict = "equal" if c["matches_expected"] else "DIFFERENT"
                lines.append(f"  the case's path is {c['variant']}: its result is {verdict}")
    for r in report["variants"]:
        lines.append("")
        lines.append(
            f"== {r['id']}  ({r['prox_step']} prox, computed in {r['compute_dtype']}; {r['formula']})"
        )
        for s in r["trace"]:
            lines.append(f"  {s['name']:>8} = {s['expr']:<34} {val(s)}")
        first = (r.get("first_difference") or {}).get("quantity")
        lines.append("  named quantities:")
        for key in QUANTITIES:
            q = r["quantities"].get(key)
            if q is None:
                note = "(l1 = 0: the kernels skip the threshold)" if key == "threshold" else "(not computed)"
                lines.append(f"    {key:<12} {note}")
                continue
            mark = f"   <-- first differs from {r['first_difference']['against']}" if key == first else ""
            lines.append(f"    {key:<12} {val(q)}{mark}")
            if q.get("note"):
                lines.append(f"    {'':<12} {q['note']}")
        status = "equal" if r["matches_kernel"] else "DIFFERENT"
        lines.append(f"  public kernel output: {r['kernel_output']['bits']} ({status})")
    lines.append("")
    lines.append("where two variants first differ (same prox form):")
    for d in report["differences"]:
        f = d["first"]
        if f is None:
            lines.append(f"  {d['a']} vs {d['b']}: identical in every quantity")
        else:
            lines.append(
                f"  {d['a']} vs {d['b']}: first at {f['quantity']} "
                f"({f['a']['bits']} vs {f['b']['bits']}, in {f['compared_in']})"
            )
    for s in report["skipped"]:
        lines.append(f"skipped {s['profile']}: {s['reason']}")
    return "\n".join(lines)


def to_json(report: dict[str, Any]) -> str:
    """The report as JSON (sorted keys, two-space indent)."""
    return json.dumps(report, indent=2, sort_keys=True)
