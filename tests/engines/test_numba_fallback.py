"""Without a working numba the engines still run, with the same bits, and say why.

numba is a dependency where it has wheels, but a NumPy newer than numba supports
makes ``import numba`` raise ImportError; so does a broken install. Both are
simulated: a stand-in ``numba`` package that raises on import, in a fresh
interpreter (so nothing has imported the real one), and a missing numba in process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxadagrad_ref import engine_info
from proxadagrad_ref.engines import dispatch

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    from proxadagrad_ref import apply_proximal_adagrad, engine_info, sparse_apply_proximal_adagrad

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = engine_info()
    assert [w.category.__name__ for w in caught] == ["NumbaImportWarning"], caught
    assert "the same bits" in str(caught[0].message), caught[0].message
    assert info["engine"] == "numpy" and info["numba"] is None and info["half_conversions"] is None, info
    assert "ImportError: Numba needs NumPy 2.5 or less. Got NumPy 9.0." in info["numba_unavailable"], info
    assert "numba" not in sys.modules

    rng = np.random.default_rng(0)
    for dtype in (np.float16, np.float32):
        for emulate in (None, "mindspore"):
            w, a, g = (rng.random(4099).astype(dtype) for _ in range(3))
            want = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=emulate, engine="reference")
            got = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=emulate)
            assert all(x.tobytes() == y.tobytes() for x, y in zip(got, want)), (dtype, emulate)
            apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=emulate, inplace=True)
            assert w.tobytes() == want[0].tobytes() and a.tobytes() == want[1].tobytes()
    table, acc = rng.random((64, 8)).astype(np.float32), rng.random((64, 8)).astype(np.float32)
    rows, idx = rng.random((5, 8)).astype(np.float32), np.array([3, 9, 3, 60, 0])
    got = sparse_apply_proximal_adagrad(table, acc, 0.1, 0.05, 0.1, rows, idx)  # row 3 twice: summed
    ref = sparse_apply_proximal_adagrad(table, acc, 0.1, 0.05, 0.1, rows, idx, engine="reference")
    assert all(x.tobytes() == y.tobytes() for x, y in zip(got, ref))
    try:
        apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, engine="numba")
    except ImportError as exc:
        assert "engine='numba' cannot run: numba is installed but failed to import" in str(exc), exc
    else:
        raise AssertionError("engine='numba' ran without numba")
    print("fell back")
    """
)


def test_numba_that_fails_to_import_gives_the_numpy_engines_and_says_why(tmp_path: Path) -> None:
    stand_in = tmp_path / "numba"
    stand_in.mkdir()
    # what numba's own check raises where NumPy is newer than it supports
    message = "Numba needs NumPy 2.5 or less. Got NumPy 9.0."
    (stand_in / "__init__.py").write_text(f"raise ImportError({message!r})\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fell back"


def test_numba_not_installed_gives_the_numpy_engines_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "numba" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(dispatch, "_NUMBA", [])  # forget this process's probe
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    info = engine_info()  # a warning would fail the test (warnings are errors)
    assert info["engine"] == "numpy" and info["numba"] is None
    assert info["numba_unavailable"] == "numba is not installed"
    with pytest.raises(ImportError, match="engine='numba' cannot run: numba is not installed"):
        engine_info(engine="numba")
