"""Numeric helpers shared by the compiled parts of the product (numba, ``nopython`` mode).

Python's ``round(x, n)`` rounds the exact binary value of ``x`` (1.005 is 1.00499999..., so it
rounds to 1.0); numba's rounds ``x * 10**n``, which is itself rounded (100.49999... becomes
100.5), so the two disagree near half-way cases. Prices, money and volumes are rounded by
``round_to`` in compiled code: it gives exactly what Python's ``round`` gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from nl_trader.jit import compiled, compiled_inline, python_callable

_SPLIT = 134_217_729.0  # 2**27 + 1: Veltkamp's splitter for float64
# 10**k for k <= 22, each exact (a decimal literal is read correctly rounded, and these are
# representable): a table read where ``10.0**k`` would multiply k times on every rounding.
_POWERS_OF_TEN = np.array([float(f"1e{k}") for k in range(23)])


@compiled_inline
def _split(value: float) -> tuple[float, float]:
    scaled = _SPLIT * value
    high = scaled - (scaled - value)
    return high, value - high


@compiled
@python_callable
def round_to(value: float, digits: int) -> float:
    """``round(value, digits)`` as Python computes it, for 0 <= digits <= 22 (a power of ten
    that is a double exactly)."""
    return round_to_inline(value, digits)


@compiled_inline
def round_to_inline(value: float, digits: int) -> float:
    """``round_to`` written into its caller, for the paths every simulated tick takes (a call
    there costs a third of the rounding); elsewhere ``round_to``, which keeps compiling short."""
    if not math.isfinite(value) or value == 0.0:
        return value
    scale = _POWERS_OF_TEN[digits] if 0 <= digits < 23 else 10.0**digits
    product = value * scale
    # From 2**53 on, 10**-digits is finer than the value's own spacing: the value is the double
    # nearest its rounding. Below, from 2**52, the product is a whole number and the error alone
    # says whether the exact product was a tie with a neighbour (handled below), where the
    # scale is exact (a table entry).
    if abs(product) >= (9_007_199_254_740_992.0 if digits < 23 else 4_503_599_627_370_496.0):
        return value
    # product + error is value * scale exactly (Dekker's two-product).
    value_high, value_low = _split(value)
    scale_high, scale_low = _split(scale)
    error = (
        (value_high * scale_high - product)
        + value_high * scale_low
        + value_low * scale_high
        + value_low * scale_low
    )
    # fraction is a multiple of the product's ulp and |error| is at most half of one: only an
    # exact-looking half needs the error's sign to tell above, below or a true tie.
    whole = float(math.floor(product))
    fraction = product - whole
    if fraction > 0.5 or (
        fraction == 0.5 and (error > 0.0 or (error == 0.0 and whole % 2.0 != 0.0))
    ):
        whole += 1.0
    elif fraction == 0.0 and abs(error) == 0.5 and whole % 2.0 != 0.0:
        whole += math.copysign(1.0, error)  # an exact half beside a whole product of 2**52 on
    result = whole / scale
    return -0.0 if result == 0.0 and value < 0 else result


@compiled_inline
@python_callable
def snap_to_step(volume: float, volume_min: float, volume_step: float) -> float:
    """A volume that is a multiple of the step up to float noise (1e-6 steps), snapped to it on
    the step's decimals; NaN when it is no multiple."""
    steps = (volume - volume_min) / volume_step
    nearest = round_to(steps, 0)
    if not abs(steps - nearest) <= 1e-6:
        return math.nan
    decimals = max(0, -math.floor(math.log10(volume_step)) + 2)
    return round_to(volume_min + nearest * volume_step, decimals)


@compiled
@python_callable
def whole_units(ticks: np.ndarray, per_unit: int, units: np.ndarray) -> bool:
    """``units = ticks // per_unit`` in one pass; whether every tick count was a whole number of
    units (nanoseconds read as seconds: per_unit 10**9). The usual divisors are written out: a
    division by a constant is a multiplication, by a variable a slow divide."""
    if per_unit == 1_000_000:
        return _whole_units(ticks, 1_000_000, units)
    if per_unit == 1_000_000_000:
        return _whole_units(ticks, 1_000_000_000, units)
    return _whole_units(ticks, per_unit, units)


@compiled_inline
def _whole_units(ticks: np.ndarray, per_unit: int, units: np.ndarray) -> bool:
    whole = True
    for i in range(ticks.shape[0]):
        unit = ticks[i] // per_unit
        units[i] = unit
        whole &= unit * per_unit == ticks[i]
    return whole


def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """``prefetch(array, i)`` in compiled code: start bringing ``array[i]``'s cache line in and go
    on. A hint to the processor (LLVM's ``llvm.prefetch``): it never faults, even out of the
    array, and changes no result. After a jump through memory, several such hints let the
    lines arrive together instead of one cache miss after another."""
    if (
        not isinstance(array, types.Array)
        or array.ndim != 1
        or not isinstance(index, types.Integer)
    ):
        return None
    signature = types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        values = context.make_array(array)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
            context, builder, array, values, [args[1]], wraparound=False
        )
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        hint = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            "llvm.prefetch.p0",
        )
        # A read (0), kept in all cache levels (3), of data (1).
        builder.call(hint, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return signature, codegen


prefetch = cast(Callable[[np.ndarray, int], None], intrinsic(_prefetch))
