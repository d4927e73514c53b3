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

Caching: compiled kernels go to one folder per
process, chosen once and logged once: ``$LIQRISK_CACHE_DIR``, else
``$NUMBA_CACHE_DIR/liqrisk``, else the package's own ``__pycache__`` when it is
writable, else the user cache (``$XDG_CACHE_HOME/liqrisk`` or ``~/.cache/liqrisk``), so
a read-only install (a Docker image) still compiles only once. Inside it, the
subfolder is named by a fingerprint of every kernel source file (``KERNEL_SOURCES``)
and of the liqrisk, numba, NumPy and Python versions: numba itself re-validates a
cached kernel against its own file only, and kernels here inline helpers and read
constants from other modules. ``liqrisk warmup`` fills the cache ahead of time.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

#: Name of the environment variable that turns compilation off.
DISABLE_ENV = "LIQRISK_DISABLE_NUMBA"
#: Name of the environment variable that sets the kernel cache's root folder.
CACHE_ENV = "LIQRISK_CACHE_DIR"
#: Every module whose code ends up in a compiled kernel, relative to the package: the
#: jitted modules and the modules they inline helpers or read constants from.
#: ``tests/core/test_numba_cache.py`` checks that the list is complete.
KERNEL_SOURCES = (
    "core/_numba.py", "core/kernels.py", "core/kernels_book.py", "core/kernels_engine.py",
    "tools/sim/cohort_kernels.py", "tools/sim/cohort_layout.py", "tools/sim/heaps_nb.py",
    "tools/sim/rng_nb.py", "tools/sim/truth_nb.py",
)
#: Fingerprint folders kept in a cache root (the most recently used); older ones are
#: deleted when a new one is made, so editing or upgrading does not pile up copies.
KEEP_FINGERPRINTS = 4
PACKAGE_DIR = Path(__file__).resolve().parents[1]
_FINGERPRINT_NAME = re.compile(r"^[0-9a-f]{16}$")


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


_runtime_lock = threading.Lock()
_runtime_ready = False


def load_runtime() -> None:
    """Build numba's CPU target (its typing and lowering registries) once per process,
    with Python's cyclic garbage collector paused.

    numba builds them on its first compile or cache load: about 70,000 objects, whose
    allocation set off ~400 collections, each walking every object of the process. That
    was 0.18 s of a 0.40 s first ``compute_features`` here (0.26 s paused), more in a bot
    whose own heap is larger. Collections are only deferred, for that quarter second.
    Called before the first kernel runs (``liqrisk.core.model.build_inputs``); a numba
    whose internals moved just builds them on first use, as before.
    """
    global _runtime_ready
    if _runtime_ready or not ENABLED:
        return
    with _runtime_lock:
        if _runtime_ready:
            return
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            from numba.core.registry import cpu_target

            cpu_target.target_context.refresh()
        except Exception as e:  # noqa: BLE001 - numba's internals; the first kernel call builds them anyway
            logger.debug("liqrisk: numba's CPU target not prepared ahead (%r).", e)
        finally:
            if was_enabled:
                gc.enable()
        _runtime_ready = True


def jit(func=None, *, inline: bool = False):
    """``numba.njit(nogil=True)``, cached in ``cache_dir()``, when enabled; else the function itself.

    ``inline=True`` inlines a small helper into its callers at numba-IR level; hot
    helpers that take many arrays cost more to call than to run.
    """
    if func is None:
        return lambda f: jit(f, inline=inline)
    if ENABLED:
        dispatcher = _njit(nogil=True, inline="always" if inline else "never")(func)
        _attach_cache(dispatcher)
        return dispatcher
    _tell_once()
    return func


# Cache location --------------------------------------------------------------------------


def fingerprint(package_dir: Path = PACKAGE_DIR, sources=KERNEL_SOURCES, versions: dict | None = None) -> str:
    """16 hex digits over the kernel sources' contents and the versions that shape machine code."""
    if versions is None:
        versions = _versions()
    h = hashlib.sha256()
    for name, version in sorted(versions.items()):
        h.update(f"{name}={version}\n".encode())
    for rel in sources:
        h.update(rel.encode() + b"\0")
        try:
            h.update((package_dir / rel).read_bytes())
        except OSError:
            h.update(b"<missing>")
        h.update(b"\0")
    return h.hexdigest()[:16]


def _versions() -> dict:
    from importlib import metadata

    import numpy

    try:
        liqrisk_version = metadata.version("liqrisk")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        liqrisk_version = "source"
    numba_version = sys.modules["numba"].__version__ if "numba" in sys.modules else "none"
    return {"liqrisk": liqrisk_version, "numba": numba_version, "numpy": numpy.__version__,
            "python": sys.version.split()[0]}


def cache_roots(environ=None, package_dir: Path = PACKAGE_DIR) -> list[tuple[Path, str]]:
    """Candidate cache roots, in order of preference, each with where it came from."""
    env = os.environ if environ is None else environ
    roots = []
    if env.get(CACHE_ENV, "").strip():
        roots.append((Path(env[CACHE_ENV].strip()).expanduser(), CACHE_ENV))
    if env.get("NUMBA_CACHE_DIR", "").strip():
        roots.append((Path(env["NUMBA_CACHE_DIR"].strip()).expanduser() / "liqrisk", "NUMBA_CACHE_DIR"))
    roots.append((package_dir / "__pycache__" / "numba", "the package's __pycache__"))
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    home = env.get("HOME", "").strip()
    if xdg:
        roots.append((Path(xdg) / "liqrisk", "XDG_CACHE_HOME"))
    elif home:
        roots.append((Path(home) / ".cache" / "liqrisk", "the user cache"))
    return roots


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


def choose_cache_dir(environ=None, package_dir: Path = PACKAGE_DIR, fp: str | None = None) -> tuple[Path | None, str]:
    """(``<root>/<fingerprint>``, where the root came from) for the first writable root, or (None, why)."""
    fp = fingerprint(package_dir) if fp is None else fp
    skipped = []
    for root, origin in cache_roots(environ, package_dir):
        folder = root / fp
        if _writable(folder):
            if skipped:
                origin += f" ({'; '.join(skipped)} not writable)"
            return folder, origin
        skipped.append(f"{origin} {root}")
    return None, "; ".join(skipped) + " not writable"


def prune(folder: Path, keep: int = KEEP_FINGERPRINTS) -> list[Path]:
    """Delete all but the ``keep`` most recently used fingerprint folders beside ``folder``."""
    try:
        siblings = [p for p in folder.parent.iterdir() if p.is_dir() and _FINGERPRINT_NAME.match(p.name)]
        siblings.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    gone = [p for p in siblings if p != folder][max(keep - 1, 0):]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


@functools.cache
def cache_dir() -> Path | None:
    """This process's kernel cache folder (chosen once, logged once); None if nothing is writable."""
    folder, origin = choose_cache_dir()
    if folder is None:
        logger.warning("liqrisk: no writable folder for compiled kernels (%s): every process compiles them "
                       "again. Set %s to a writable folder.", origin, CACHE_ENV)
        return None
    try:
        os.utime(folder)  # most recently used: pruning keeps it
    except OSError:
        pass
    prune(folder)
    logger.info("liqrisk: compiled kernels cached in %s (from %s; set %s to move it)", folder, origin, CACHE_ENV)
    return folder


def _attach_cache(dispatcher) -> None:
    """Give a numba dispatcher a disk cache in ``cache_dir()`` (numba's ``cache=True``, relocated)."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        dispatcher._cache = _function_cache_class()(dispatcher.py_func)
    except Exception as e:  # pragma: no cover - a numba whose cache internals moved
        logger.warning("liqrisk: numba's cache internals changed (%s); using numba's default cache location "
                       "without the fingerprint check.", e)
        dispatcher.enable_caching()


@functools.cache
def _function_cache_class():
    """numba's ``FunctionCache`` with one locator: ``cache_dir()/<subpackage>``, stamped by the fingerprint."""
    from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator

    folder = cache_dir()
    stamp = folder.name

    class Locator(_CacheLocator):
        def __init__(self, py_func, py_file):
            self._lineno = py_func.__code__.co_firstlineno
            try:
                sub = ".".join(Path(py_file).resolve().parent.relative_to(PACKAGE_DIR).parts) or "root"
            except ValueError:  # pragma: no cover - a kernel outside the package
                sub = "other-" + self.get_suitable_cache_subpath(py_file)
            self._cache_path = str(folder / sub)

        def ensure_cache_path(self):
            os.makedirs(self._cache_path, exist_ok=True)

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return stamp  # the folder's fingerprint already covers every kernel source

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            locator = cls(py_func, py_file)
            try:
                locator.ensure_cache_path()
            except OSError:
                return None
            return locator

    class Impl(CompileResultCacheImpl):
        _locator_classes = [Locator]

    class Cache(FunctionCache):
        _impl_class = Impl

    return Cache
