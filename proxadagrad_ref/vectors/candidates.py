"""Calling an implementation on a case: the engine itself, a plain Python callable, or a framework.

**The candidate protocol.** A candidate is any callable with the kernel's
positional signature::

    dense(var, accum, lr, l1, l2, grad)            -> (var_out, accum_out)
    sparse(var, accum, lr, l1, l2, grad, indices)  -> (var_out, accum_out)

(or an optimizer factory with the signature of
:class:`~proxadagrad_ref.ProximalAdagrad`, see :mod:`.trajectory`). The
verifier hands it copies of the case's arrays and Python floats; a call that
returns None is read from the arrays it updated in place. It inspects the
signature (:func:`inspect.signature`) and passes only the keywords the
callable accepts, each with the case's value: ``prox_step`` (``"adaptive"``
or ``"fixed"``), ``emulate`` (None for the ``exact`` profile, else
``"mindspore"`` / ``"tensorflow"``) and, for a sparse kernel, ``duplicates``
(``"sum"``, ``"sequential"`` or ``"error"``). ``inplace`` is never passed.

What a candidate implements is declared by its signature and by the
verifier's filters, which both select cases and declare: a callable without
``emulate`` computes the ``exact`` profile's arithmetic (or the profile given
as the ``profile`` filter), one without ``prox_step`` the kernels' adaptive
form (or ``prox_step``), a sparse one without ``duplicates`` sums duplicate
indices (or ``duplicates``), and one whose ``indices`` has no default takes
``(rows, indices)`` gradients only (not scipy.sparse matrices). A case the
candidate cannot express is *not applicable* (:func:`not_applicable` gives
the reason): it is counted, never a failure.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import apply_proximal_adagrad, sparse_apply_proximal_adagrad
from .format import Case

__all__ = [
    "KEYWORDS",
    "Candidate",
    "Declared",
    "Signature",
    "as_candidate",
    "call_case",
    "engine_candidate",
    "hyper_values",
    "load_candidate",
    "not_applicable",
    "signature_of",
]

KEYWORDS = ("prox_step", "emulate", "duplicates")  # what the verifier passes when a signature accepts it


@dataclass(frozen=True)
class Signature:
    """What a callable's signature tells the verifier.

    Attributes
    ----------
    keywords : frozenset of str or None
        The keywords of :data:`KEYWORDS` it accepts; None when it accepts any
        (``**kwargs``).
    positional : int or None
        Number of positional parameters; None when it takes ``*args``.
    indices_optional : bool
        A 7th positional parameter with a default (a sparse kernel that also
        takes scipy.sparse gradients with ``indices=None``).

    """

    keywords: frozenset[str] | None
    positional: int | None
    indices_optional: bool

    def accepts(self, keyword: str) -> bool:
        """True when the callable takes `keyword`."""
        return self.keywords is None or keyword in self.keywords


def signature_of(func: Callable[..., Any]) -> Signature:
    """Inspect `func` (a class is inspected through its constructor).

    A callable whose signature cannot be read (some builtins) is taken to
    accept any keyword.
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return Signature(None, None, True)
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        keywords = None
    else:
        named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        keywords = frozenset(p.name for p in params if p.kind in named and p.name in KEYWORDS)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return Signature(keywords, None, True)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    positional = [p for p in positional if p.name not in KEYWORDS or p.default is p.empty]
    optional = len(positional) >= 7 and positional[6].default is not positional[6].empty
    return Signature(keywords, len(positional), optional)


@dataclass(frozen=True)
class Candidate:
    """An implementation under test: dense and sparse callables and an optimizer factory (any may be None).

    Parameters
    ----------
    name : str
        Shown in reports.
    dense, sparse : callable or None
        The kernels (see the module docs for their signature).
    pass_profile : bool
        False: pass no keyword at all, whatever the signatures accept (the
        framework adapters).
    optimizer : callable or None
        An optimizer factory with the signature of :class:`~proxadagrad_ref.ProximalAdagrad`.
    spec : str or None
        ``MODULE:FUNC`` that imports the candidate again (``repro`` lines);
        None when it cannot be imported by name.

    """

    name: str
    dense: Callable[..., Any] | None = None
    sparse: Callable[..., Any] | None = None
    pass_profile: bool = True
    optimizer: Callable[..., Any] | None = None
    spec: str | None = None

    def for_op(self, op: str) -> Callable[..., Any] | None:
        """The callable for `op`, or None when the candidate does not implement it."""
        return {"dense": self.dense, "sparse": self.sparse, "optimizer": self.optimizer}.get(op)

    def signature(self, op: str) -> Signature:
        """The :class:`Signature` of the callable for `op` (no keyword when `pass_profile` is False)."""
        func = self.for_op(op)
        if func is None:
            raise LookupError(op)
        sig = signature_of(func)
        if not self.pass_profile:
            return Signature(frozenset(), sig.positional, sig.indices_optional)
        return sig


def engine_candidate() -> Candidate:
    """The engine's own public kernels and optimizer."""
    from ..optim import ProximalAdagrad

    return Candidate(
        "proxadagrad_ref",
        apply_proximal_adagrad,
        sparse_apply_proximal_adagrad,
        optimizer=ProximalAdagrad,
        spec=None,
    )


def _spec_of(obj: Any) -> str | None:
    """``module:qualname`` when `obj` can be imported again by that name, else None."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:  # any import problem: the candidate cannot be named
        return None
    return f"{module}:{qualname}" if found is obj else None


def _op_of(obj: Any, hint: str, op: str | None) -> str:
    """Which op a single callable implements.

    `op` when given; else an optimizer factory (a class, ``optim`` in `hint` or
    its name, or fewer than 6 positional parameters); else sparse with a 7th
    positional parameter (``indices``), dense with 6; a ``*args`` signature
    goes by ``sparse`` in the name.
    """
    if op is not None:
        if op not in ("dense", "sparse", "optimizer"):
            raise ValueError(f"op must be 'dense', 'sparse' or 'optimizer', got {op!r}")
        return op
    names = f"{hint} {getattr(obj, '__name__', '')}".lower()
    positional = signature_of(obj).positional
    if inspect.isclass(obj) or "optim" in names or (positional is not None and positional < 6):
        return "optimizer"
    if positional is None:  # *args: the signature cannot tell
        return "sparse" if "sparse" in names else "dense"
    return "sparse" if positional >= 7 else "dense"


def as_candidate(obj: Any, *, op: str | None = None, name: str | None = None) -> Candidate:
    """A :class:`Candidate` from a Candidate, a plain callable, or an object with kernel attributes.

    Parameters
    ----------
    obj : Candidate, callable or object
        A callable is a dense kernel (6 positional parameters), a sparse
        kernel (a 7th, ``indices``) or an optimizer factory (a class, ``optim``
        in its name, or fewer than 6 positional parameters), unless `op` says
        which. An object (a module, a class
        instance) with ``dense``, ``sparse`` and/or ``optimizer`` attributes
        tests several ops.
    op : {"dense", "sparse", "optimizer"}, optional
        The op a single callable implements.
    name : str, optional
        The name shown in reports (default: ``module:qualname``).

    Returns
    -------
    Candidate

    Examples
    --------
    >>> def my_kernel(var, accum, lr, l1, l2, grad):
    ...     return var, accum
    >>> as_candidate(my_kernel).dense is my_kernel
    True

    """
    if isinstance(obj, Candidate):
        return obj
    if any(hasattr(obj, a) for a in ("dense", "sparse", "optimizer")) and not inspect.isclass(obj):
        label = name or getattr(obj, "__name__", None) or type(obj).__name__
        parts = {a: getattr(obj, a, None) for a in ("dense", "sparse", "optimizer")}
        for attr, func in parts.items():
            if func is not None and not callable(func):
                raise TypeError(f"candidate {label!r}: attribute {attr!r} is not callable")
        return Candidate(
            label, parts["dense"], parts["sparse"], optimizer=parts["optimizer"], spec=_spec_of(obj)
        )
    if not callable(obj):
        raise TypeError(
            f"candidate must be a callable (a kernel or an optimizer factory) or an object with "
            f"dense/sparse/optimizer attributes, got {type(obj).__name__}"
        )
    spec = _spec_of(obj)
    label = name or spec or getattr(obj, "__qualname__", None) or repr(obj)
    which = _op_of(obj, label.rsplit(":", 1)[-1].rsplit(".", 1)[-1], op)
    return Candidate(label, **{which: obj}, spec=spec)


def load_candidate(spec: str, op: str | None = None) -> Candidate:
    """Import ``MODULE:FUNC`` and make it a :class:`Candidate` (:func:`as_candidate` decides the op).

    ``MODULE:FUNC`` may also name an object with ``dense``, ``sparse`` and/or
    ``optimizer`` attributes (a module or a small class) to test several ops.
    A module that fails to import is reported with its error (a ValueError
    naming the module), not raised.
    """
    if ":" not in spec:
        raise ValueError(f"--candidate must be MODULE:FUNC, got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise ValueError(f"--candidate must be MODULE:FUNC, got {spec!r}")
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:  # ImportError, or the module's own code failing: a message, not a traceback
        raise ValueError(
            f"cannot import candidate module {mod_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"candidate module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj) and not any(hasattr(obj, a) for a in ("dense", "sparse", "optimizer")):
        raise ValueError(f"candidate {spec!r} is not callable")
    try:
        cand = as_candidate(obj, op=op, name=spec)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return Candidate(cand.name, cand.dense, cand.sparse, cand.pass_profile, cand.optimizer, spec)


@dataclass(frozen=True)
class Declared:
    """What the filters declare a candidate implements where its signature does not say (None: not given)."""

    profile: str | None = None
    prox_step: str | None = None
    duplicates: str | None = None


def not_applicable(case: Case, candidate: Candidate, declared: Declared = Declared()) -> str | None:
    """Why `candidate` cannot express `case` (None when it can): one reason, worded for a report."""
    meta = case.meta
    op = meta["op"]
    if candidate.for_op(op) is None:
        return f"op {op}: no {op} {'factory' if op == 'optimizer' else 'kernel'}"
    sig = candidate.signature(op)
    profile = meta["profile"]
    if not sig.accepts("emulate") and profile != (declared.profile or "exact"):
        return f"profile {profile}: no emulate= keyword (declare: --profile {profile})"
    step = meta["prox_step"]
    if not sig.accepts("prox_step") and step != (declared.prox_step or "adaptive"):
        return f"prox_step {step}: no prox_step= keyword (declare: --prox-step {step})"
    if op == "sparse":
        policy = meta["options"].get("duplicates", "sum")
        if not sig.accepts("duplicates") and policy != (declared.duplicates or "sum"):
            return f"duplicates {policy}: no duplicates= keyword (declare: --duplicates {policy})"
        fmt = meta["options"].get("grad_format", "rows")
        if fmt != "rows" and not sig.indices_optional:
            return f"grad_format {fmt}: indices has no default (scipy.sparse gradients come with None)"
    return None


def hyper_values(case: Case) -> tuple[float, float, float]:
    """(lr, l1, l2) of a case, from their exact hex strings."""
    h = case.meta["hyper"]
    return float.fromhex(h["lr"]), float.fromhex(h["l1"]), float.fromhex(h["l2"])


def _grad_of(case: Case, inputs: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
    fmt = case.meta["options"].get("grad_format", "rows")
    if fmt == "rows":
        return inputs["grad"].copy(), inputs["indices"].copy()
    import scipy.sparse as sp

    shape = inputs["var"].shape
    m: Any
    if fmt == "csr":
        m = sp.csr_array((inputs["grad_data"], inputs["grad_indices"], inputs["grad_indptr"]), shape=shape)
    else:
        m = sp.coo_array((inputs["grad_data"], (inputs["grad_row"], inputs["grad_col"])), shape=shape)
    return m, None


def case_keywords(case: Case, signature: Signature) -> dict[str, Any]:
    """The keywords a callable with `signature` receives for `case` (see the module docs)."""
    meta = case.meta
    values: dict[str, Any] = {
        "prox_step": meta["prox_step"],
        "emulate": None if meta["profile"] == "exact" else meta["profile"],
    }
    if meta["op"] == "sparse" and "duplicates" in meta["options"]:
        values["duplicates"] = meta["options"]["duplicates"]
    return {k: v for k, v in values.items() if signature.accepts(k)}


def call_case(func: Callable[..., Any], case: Case, *, pass_profile: bool = True) -> dict[str, np.ndarray]:
    """Run `func` on the case's inputs (copies) and return ``{"var_out", "accum_out"}`` as NumPy arrays.

    `func` receives the keywords of :data:`KEYWORDS` its signature accepts
    (none when `pass_profile` is False). A call that returns None is read from
    the arrays it was given (an in-place kernel).
    """
    inputs = case.group("inputs")
    lr, l1, l2 = hyper_values(case)
    meta = case.meta
    sig = signature_of(func)
    kwargs = case_keywords(case, sig) if pass_profile else {}
    var, accum = inputs["var"].copy(), inputs["accum"].copy()
    with np.errstate(all="ignore"):
        if meta["op"] == "dense":
            out = func(var, accum, lr, l1, l2, inputs["grad"].copy(), **kwargs)
        elif meta["op"] == "sparse":
            grad, indices = _grad_of(case, inputs)
            if indices is None:  # a scipy.sparse gradient: indices=None, by keyword or by position
                out = func(var, accum, lr, l1, l2, grad, **kwargs)
            else:
                out = func(var, accum, lr, l1, l2, grad, indices, **kwargs)
        else:
            raise ValueError(f"op {meta['op']!r} is not callable this way")
    if out is None:
        out = (var, accum)
    try:
        var_out, accum_out = out
    except (TypeError, ValueError):
        raise TypeError(
            f"the candidate must return (var_out, accum_out) or None, got {type(out).__name__}"
        ) from None
    return {"var_out": _to_numpy(var_out), "accum_out": _to_numpy(accum_out)}


def _to_numpy(x: Any) -> np.ndarray:
    """A NumPy array of any array-API array the candidate returns (NumPy, CuPy, DLPack exporters)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x)
    if hasattr(x, "get") and not isinstance(x, (list, tuple, dict)):  # CuPy
        return np.asarray(x.get())
    if hasattr(x, "__dlpack__"):
        return np.from_dlpack(x)
    return np.asarray(x)
