"""The built-in engine's seeded random streams (engine/util/rng.ts), bit for bit.

mulberry32 advances its state by a constant, so the n-th output is a pure function of
(seed, n): numpy computes a whole stream at once, in uint32 arithmetic like JavaScript's.
"""
import numpy as np

_MASK = 0xFFFFFFFF


def uint32(x: int) -> int:
    """JavaScript's `x >>> 0` for an integer x."""
    return x & _MASK


def uniform(seed: int, n: int) -> np.ndarray:
    """The first n values of rng(seed) (engine/util/rng.ts), in [0, 1), as float64."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    a = ((np.uint64(uint32(seed)) + i * np.uint64(0x6D2B79F5)) & np.uint64(_MASK)).astype(np.uint32)
    with np.errstate(over="ignore"):
        t = (a ^ (a >> np.uint32(15))) * (a | np.uint32(1))
        t ^= t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))
    return (t ^ (t >> np.uint32(14))).astype(np.float64) / 4294967296.0


def gaussian(seed: int, n: int) -> np.ndarray:
    """The first n values of gaussian(seed): Box-Muller over pairs of uniforms."""
    u = uniform(seed, 2 * n)
    return np.sqrt(-2.0 * np.log(1.0 - u[0::2])) * np.cos(2.0 * np.pi * u[1::2])
