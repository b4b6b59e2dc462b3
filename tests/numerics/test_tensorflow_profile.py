"""The ``tensorflow`` profile's building blocks, checked against independent statements of their rules.

* ``rsqrt_estimate`` against a bit-manipulation implementation of the documented ``vrsqrtps`` table rule
  (``proxadagrad_ref/data/README.md``), and the table's anchors;
* flush-to-zero / denormals-are-zero as TensorFlow's CPU threads run them;
* the dense packet / scalar-tail split (8 float32 lanes);
* what the profile refuses (float16, ``prox_step="fixed"``);
* the accuracy of TensorFlow's float32 ``rsqrt`` (estimate + one Newton step) against the correctly
  rounded ``1/sqrt`` (figures in ``docs/recorded-tensorflow.md``).
"""

from __future__ import annotations

from fractions import Fraction
from importlib.resources import files

import numpy as np
import pytest
from helpers import same_bits

from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad
from proxadagrad_ref.numerics.ops import rsqrt_eigen, rsqrt_estimate
from proxadagrad_ref.numerics.profiles import tensorflow_packet_formula, tensorflow_scalar_formula

F32 = np.float32
U32 = np.uint32
TINY32 = float(np.finfo(F32).smallest_normal)


def _table() -> np.ndarray:
    """The shipped AMD Zen 3 ``vrsqrtps`` table: uint32 bits, shape (2, 4096)."""
    with (files("proxadagrad_ref") / "data" / "rsqrtps_amd_zen3.npy").open("rb") as handle:
        table = np.load(handle, allow_pickle=False)
    assert table.shape == (2, 4096) and table.dtype == np.uint32
    return table


def _estimate_by_bits(bits: np.ndarray) -> np.ndarray:
    """The documented rule on raw float32 bits, with integer operations only.

    ``x = 2**e * m`` positive normal: entry ``(e mod 2, top 12 bits of m)``, its exponent field lowered by
    ``(e - e mod 2) / 2``; ``+-0`` and subnormals give ``+-inf``; ``+inf`` gives ``+0``; other negative
    inputs and NaN give NaN.
    """
    table = _table()
    sign = bits >> U32(31)
    field = ((bits >> U32(23)) & U32(0xFF)).astype(np.int64)
    e = field - 127
    parity = e % 2  # Python's modulo: 0 or 1 for negative exponents too
    entry = table[parity, (bits >> U32(11)) & U32(0xFFF)].astype(np.int64)
    normal = (field > 0) & (field < 255) & (sign == 0)
    scaled = entry - ((e - parity) // 2 << 23)  # entries lie in (0.5, 1]: the result stays normal
    out = np.where(normal, scaled, 0x7FC00000).astype(np.uint32)  # NaN by default
    out = np.where(field == 0, np.where(sign == 0, U32(0x7F800000), U32(0xFF800000)), out)
    out = np.where(bits == U32(0x7F800000), U32(0), out)
    return out.astype(np.uint32).view(F32)


def _arrays(dtype: type, *values: float) -> list[np.ndarray]:
    """One-element arrays of `dtype`."""
    return [np.array([v], dtype) for v in values]


# --- the rsqrt table ------------------------------------------------------------------------------------


def test_rsqrt_estimate_matches_the_table_rule_on_random_bit_patterns() -> None:
    bits = np.random.default_rng(20261125).integers(0, 2**32, 2**20, dtype=np.uint64).astype(U32)
    x = bits.view(F32)
    with np.errstate(all="ignore"):
        got = np.asarray(rsqrt_estimate(x))
    mismatch = ~same_bits(got, _estimate_by_bits(bits))
    assert not mismatch.any(), [hex(int(b)) for b in bits[mismatch][:5]]


def test_rsqrt_estimate_matches_the_table_rule_on_every_exponent_and_special_value() -> None:
    mantissas = np.array([0, 1, 0x7FF, 0x800, 0x400000, 0x7FF800, 0x7FFFFF], dtype=U32)
    mantissas = np.concatenate([mantissas, np.random.default_rng(1).integers(0, 2**23, 57).astype(U32)])
    fields = np.arange(256, dtype=U32)
    bits = (fields[:, None, None] << U32(23)) | mantissas[None, :, None] | np.array([0, 1 << 31], U32)
    bits = bits.ravel().astype(U32)  # all 256 exponent fields x both signs: zeros, subnormals, inf, NaN
    with np.errstate(all="ignore"):
        got = np.asarray(rsqrt_estimate(bits.view(F32)))
    assert same_bits(got, _estimate_by_bits(bits)).all()
    specials = np.array([0.0, -0.0, TINY32 / 4, -TINY32 / 4, np.inf, -np.inf, np.nan, -1.0], F32)
    with np.errstate(all="ignore"):
        out = np.asarray(rsqrt_estimate(specials))
    expected = np.array([np.inf, -np.inf, np.inf, -np.inf, 0.0, np.nan, np.nan, np.nan], F32)
    assert same_bits(out, expected).all(), out


@pytest.mark.parametrize(
    ("x", "estimate", "refined"),
    [(1.0, 0x3F7FF800, 0x3F800000), (2.0, 0x3F350000, 0x3F3504F3), (4.0, 0x3EFFF800, 0x3F000000)],
)
def test_rsqrt_table_anchors(x: float, estimate: int, refined: int) -> None:
    """AMD Zen 3: rsqrt(1.0) = 0x3F7FF800 (Intel's table gives 0x3F7FF000); Newton refines it."""
    arg = np.array([x], F32)
    assert np.asarray(rsqrt_estimate(arg)).view(U32)[0] == estimate
    assert np.asarray(rsqrt_eigen(arg)).view(U32)[0] == refined


# --- flush-to-zero and denormals-are-zero ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_var_is_read_as_zero(dtype: type) -> None:
    """``var = tiny/4`` (subnormal), ``g = -tiny``, ``accum = 1``, ``lr = 1``: exactly ``tiny`` (not 1.25)."""
    tiny = float(np.finfo(dtype).smallest_normal)
    var, accum, grad = _arrays(dtype, tiny / 4, 1.0, -tiny)
    w, a = apply_proximal_adagrad(var, accum, 1.0, 0.0, 0.0, grad, emulate="tensorflow")
    assert w[0] == tiny and a[0] == 1.0
    w_exact, _ = apply_proximal_adagrad(var, accum, 1.0, 0.0, 0.0, grad)
    assert w_exact[0] == tiny + tiny / 4  # IEEE keeps the subnormal
    w_rows, _ = sparse_apply_proximal_adagrad(
        var.reshape(1, 1), accum.reshape(1, 1), 1.0, 0.0, 0.0, grad.reshape(1, 1), np.array([0]),
        emulate="tensorflow",
    )  # fmt: skip
    assert w_rows[0, 0] == tiny


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_accumulator_behaves_as_zero(dtype: type) -> None:
    """``accum = tiny/4``, ``g = 0``: ``lr * rsqrt(0) = inf``, ``0 * inf`` gives NaN; exact keeps ``var``."""
    tiny = float(np.finfo(dtype).smallest_normal)
    var, accum, grad = _arrays(dtype, 0.5, tiny / 4, 0.0)
    with np.errstate(all="ignore"):
        w, a = apply_proximal_adagrad(var, accum, 0.1, 0.0, 0.0, grad, emulate="tensorflow")
    assert np.isnan(w[0]) and a[0] == 0.0 and not np.signbit(a[0])
    w_exact, a_exact = apply_proximal_adagrad(var, accum, 0.1, 0.0, 0.0, grad)
    assert w_exact[0] == 0.5 and a_exact[0] == tiny / 4


def test_subnormal_results_are_flushed() -> None:
    """``v = 1.5 tiny - tiny = tiny/2`` is subnormal: TensorFlow writes +0, IEEE the subnormal."""
    var, accum, grad = _arrays(F32, 1.5 * TINY32, 1.0, TINY32)
    w, _ = apply_proximal_adagrad(var, accum, 1.0, 0.0, 0.0, grad, emulate="tensorflow")
    assert w.view(U32)[0] == 0
    w_exact, _ = apply_proximal_adagrad(var, accum, 1.0, 0.0, 0.0, grad)
    assert w_exact[0] == F32(TINY32 / 2)


def test_subnormal_rsqrt_input_gives_infinity() -> None:
    x = np.array([TINY32 / 4, np.finfo(F32).smallest_subnormal, TINY32], F32)
    with np.errstate(all="ignore"):
        y = np.asarray(rsqrt_eigen(x))
    assert y[0] == y[1] == np.inf and np.isfinite(y[2])


# --- the packet / scalar split ------------------------------------------------------------------------


HYPER = (
    np.asarray(0.1, F32),
    np.asarray(0.01, F32),
    np.asarray(0.01, F32),
)  # lr, l1, l2 as the kernel gets them


def _disagreeing_inputs(count: int) -> tuple[np.ndarray, ...]:
    """Float32 inputs on which the packet and the scalar formulas give different ``var_out``."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal(4096) * 10.0).astype(F32)
    a = rng.uniform(0.01, 10.0, 4096).astype(F32)
    g = rng.standard_normal(4096).astype(F32)
    lr, l1, l2 = HYPER
    with np.errstate(all="ignore"):
        packet, _ = tensorflow_packet_formula(w, a, g, lr, l1, l2, True)
        scalar, _ = tensorflow_scalar_formula(w, a, g, lr, l1, l2, True)
    pick = np.flatnonzero(~same_bits(packet, scalar))[:count]
    assert pick.size == count
    return w[pick], a[pick], g[pick]


@pytest.mark.parametrize("engine", ["auto", "numba", "numpy", "reference"])
def test_thirteen_floats_are_one_packet_and_a_scalar_tail_of_five(engine: str) -> None:
    """First 8 elements: packet formula (rsqrt estimate); last ``13 % 8 = 5``: scalar ``1/sqrt``."""
    w, a, g = _disagreeing_inputs(13)
    lr, l1, l2 = HYPER
    out, acc = apply_proximal_adagrad(w, a, lr, l1, l2, g, emulate="tensorflow", engine=engine)
    packet, packet_acc = tensorflow_packet_formula(w, a, g, lr, l1, l2, True)
    scalar, _ = tensorflow_scalar_formula(w, a, g, lr, l1, l2, True)
    assert same_bits(out[:8], packet[:8]).all() and same_bits(out[8:], scalar[8:]).all()
    assert not same_bits(out[:8], scalar[:8]).any() and not same_bits(out[8:], packet[8:]).any()
    assert same_bits(acc, packet_acc).all()


# --- refusals ------------------------------------------------------------------------------------------


def test_float16_is_refused() -> None:
    var = np.ones(4, np.float16)
    with pytest.raises(TypeError, match=r"float16.*emulate='tensorflow' does not define.*float32, float64"):
        apply_proximal_adagrad(var, var, 0.1, 0.0, 0.0, var, emulate="tensorflow")
    rows = np.ones((4, 2), np.float16)
    with pytest.raises(TypeError, match=r"float16.*emulate='tensorflow' does not define"):
        sparse_apply_proximal_adagrad(
            rows, rows, 0.1, 0.0, 0.0, rows[:1], np.array([0]), emulate="tensorflow"
        )


def test_fixed_prox_step_is_refused() -> None:
    var = np.ones(4, F32)
    with pytest.raises(ValueError, match=r"prox_step='fixed'.*emulate='tensorflow' supports only"):
        apply_proximal_adagrad(var, var, 0.1, 0.0, 0.0, var, emulate="tensorflow", prox_step="fixed")


# --- accuracy of the float32 rsqrt ------------------------------------------------------------------------


def _correctly_rounded_rsqrt(x: np.ndarray) -> np.ndarray:
    """``1/sqrt(x)`` rounded once to float32 (float64 candidate, exact check where it is ambiguous)."""
    y = (1.0 / np.sqrt(x.astype(np.float64))).astype(F32)
    wide = 1.0 / np.sqrt(x.astype(np.float64))
    up, down = np.nextafter(y, F32(np.inf)), np.nextafter(y, F32(0))
    mid_hi = (y.astype(np.float64) + up.astype(np.float64)) / 2
    mid_lo = (y.astype(np.float64) + down.astype(np.float64)) / 2
    close = np.minimum(np.abs(wide - mid_hi), np.abs(wide - mid_lo)) < 1e-12 * wide
    for i in np.flatnonzero(close):  # decide with rationals: y is right iff x*mid_lo^2 < 1 < x*mid_hi^2
        xi = Fraction(float(x[i]))
        candidates = [np.nextafter(y[i], F32(0)), y[i], np.nextafter(y[i], F32(np.inf))]
        y[i] = min(candidates, key=lambda c: abs(Fraction(float(c)) ** 2 * xi - 1))
    return y


def test_tensorflow_float32_rsqrt_accuracy() -> None:
    """Over random positive normals: at most 2 ulp from correctly rounded, about 77 % exact."""
    rng = np.random.default_rng(3)
    bits = rng.integers(1 << 23, 0x7F800000, 1 << 20, dtype=np.int64).astype(U32)
    x = bits.view(F32)
    got = np.asarray(rsqrt_eigen(x))
    ref = _correctly_rounded_rsqrt(x)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - ref.view(np.int32).astype(np.int64))
    shares = [float(np.mean(ulps == k)) for k in range(3)]
    print(
        f"rsqrt float32 vs correctly rounded: exact {shares[0]:.2%}, 1 ulp {shares[1]:.2%}, "
        f"2 ulp {shares[2]:.4%}"
    )
    assert ulps.max() <= 2
    assert abs(shares[0] - 0.7705) < 0.005 and abs(shares[1] - 0.2292) < 0.005
    assert 0.0001 < shares[2] < 0.0006  # 0.0258 % over all 2^32 inputs
