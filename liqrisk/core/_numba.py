"""numba compatibility shim (the pattern of arch's ``compat/numba.py``).

Every kernel of the package (the engine's and the simulator's) is decorated with this
module's ``jit``. It compiles with ``numba.njit`` unless

* numba cannot be imported (an unsupported Python or NumPy): the kernels run as plain
  Python, with one ``PerformanceWarning`` per process; or
* the environment variable ``LIQRISK_DISABLE_NUMBA=1`` is set when liqrisk is imported:
  the same plain-Python path, chosen on purpose (debugging a kernel with pdb or
  coverage, or checking the compiled code against its source), so it is only logged,
  once, at WARNING.

The plain path runs the kernels' own source, so results agree with the compiled ones
to rounding (``tests/core/test_numba_switch.py``), at roughly 1000x the run time.

Caching: numba re-validates a cached kernel against its own source file only. A kernel
that inlines helpers or reads constants from another module (``kernels_engine`` from
``kernels_book`` and ``kernels``; ``tools.sim.cohort_kernels`` from ``rng_nb``,
``heaps_nb``, ``truth_nb`` and ``cohort_layout``) keeps its stale compiled code when
only that other module is edited: touch the caller's file too, or delete its
``__pycache__/*.nbi``/``*.nbc`` files.
"""

from __future__ import annotations

import logging
import os
import warnings

logger = logging.getLogger(__name__)

#: Name of the environment variable that turns compilation off.
DISABLE_ENV = "LIQRISK_DISABLE_NUMBA"


class PerformanceWarning(UserWarning):
    """The fast path is unavailable; results are identical, speed is not."""


try:
    from numba import njit as _njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False

#: True when kernels are compiled; False when they run as plain Python.
ENABLED = HAVE_NUMBA and os.environ.get(DISABLE_ENV, "").strip() not in ("1", "true", "True", "yes")
_told = False


def _tell_once() -> None:
    global _told
    if _told:
        return
    _told = True
    if HAVE_NUMBA:
        logger.warning("%s is set: liqrisk's kernels run as plain Python, about 1000x slower (unset it to compile).",
                       DISABLE_ENV)
    else:  # pragma: no cover - exercised only without numba
        warnings.warn("numba is not available: liqrisk's kernels run as plain Python, about 1000x slower. "
                      "Install numba (pip install numba) for the fast path.", PerformanceWarning, stacklevel=3)


def jit(func=None, *, inline: bool = False):
    """``numba.njit(cache=True, nogil=True)`` when enabled, else the function itself.

    ``inline=True`` inlines a small helper into its callers at numba-IR level; hot
    helpers that take many arrays cost more to call than to run.
    """
    if func is None:
        return lambda f: jit(f, inline=inline)
    if ENABLED:
        return _njit(cache=True, nogil=True, inline="always" if inline else "never")(func)
    _tell_once()
    return func
