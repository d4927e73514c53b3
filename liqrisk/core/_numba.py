"""numba compatibility shim (the pattern of arch's ``compat/numba.py``).

numba is a declared dependency, but if it cannot be imported (an unsupported Python
or NumPy), the kernels still run as plain Python, very slowly, with one warning.
"""

from __future__ import annotations

import warnings


class PerformanceWarning(UserWarning):
    """The fast path is unavailable; results are identical, speed is not."""


try:
    from numba import njit as _njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False


def jit(func=None, *, inline: bool = False):
    """``numba.njit(cache=True)`` when available, else the function itself.

    ``inline=True`` inlines a small helper into its callers at numba-IR level; hot
    helpers that take many arrays cost more to call than to run.
    """
    if func is None:
        return lambda f: jit(f, inline=inline)
    if HAVE_NUMBA:
        return _njit(cache=True, nogil=True, inline="always" if inline else "never")(func)
    warnings.warn(
        f"numba is not available: {func.__name__} runs as plain Python and is ~1000x slower.",
        PerformanceWarning,
        stacklevel=2,
    )
    return func
