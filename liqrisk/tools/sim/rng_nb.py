"""In-kernel random numbers for the simulator: xoshiro256** and the draws built on it.

The generator's four uint64 words (``s``) are part of the saved simulator state, so a
run continued from a saved state is the same run. Every draw advances ``s`` in place.
The generator relies on uint64 wrap-around; as plain Python (``LIQRISK_DISABLE_NUMBA=1``)
NumPy's scalars wrap the same way but warn (``np.errstate(over="ignore")`` silences it).
"""

from __future__ import annotations

import numpy as np

from liqrisk.core._numba import jit


@jit(inline=True)
def _rotl_nb(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@jit(inline=True)
def _next_u64_nb(s):
    result = _rotl_nb(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl_nb(s[3], 45)
    return result


@jit(inline=True)
def uniform_nb(s):
    """Uniform on the open interval (0, 1)."""
    return (float(_next_u64_nb(s) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@jit(inline=True)
def normal_nb(s):
    return np.sqrt(-2.0 * np.log(uniform_nb(s))) * np.cos(2.0 * np.pi * uniform_nb(s))


@jit(inline=True)
def student_t4_nb(s):
    """Student-t with 4 degrees of freedom, scaled to unit variance.

    chi²(4) is −2·ln(U1·U2), so no gamma sampler is needed.
    """
    chi2 = -2.0 * np.log(uniform_nb(s) * uniform_nb(s))
    return normal_nb(s) / np.sqrt(chi2 / 4.0) / np.sqrt(2.0)


@jit(inline=True)
def poisson_nb(s, lam):
    limit = np.exp(-lam)
    k = 0
    p = uniform_nb(s)
    while p > limit:
        k += 1
        p *= uniform_nb(s)
    return k


@jit(inline=True)
def pick_nb(s, cdf):
    u = uniform_nb(s) * cdf[cdf.shape[0] - 1]
    return np.searchsorted(cdf, u, side="right")
