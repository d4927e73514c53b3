"""``_numba.load_runtime``: numba's registries built once, the garbage collector paused
only meanwhile and left as the host had it."""

import gc
import sys

import pytest

from liqrisk.core import _numba


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(_numba, "_runtime_ready", False)
    yield
    if not gc.isenabled():
        gc.enable()


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_left_as_the_host_had_it(fresh, monkeypatch, enabled):
    seen = []

    class Context:
        def refresh(self):
            seen.append(gc.isenabled())

    class Target:
        target_context = Context()

    monkeypatch.setattr(_numba, "ENABLED", True)
    monkeypatch.setitem(sys.modules, "numba.core.registry", type(sys)("registry"))
    sys.modules["numba.core.registry"].cpu_target = Target()
    (gc.enable if enabled else gc.disable)()
    _numba.load_runtime()
    _numba.load_runtime()  # once per process
    assert seen == [False]  # paused while the registries are built
    assert gc.isenabled() is enabled


def test_broken_numba_internals_are_skipped(fresh, monkeypatch):
    monkeypatch.setattr(_numba, "ENABLED", True)
    monkeypatch.setitem(sys.modules, "numba.core.registry", type(sys)("registry"))  # no cpu_target
    gc.enable()
    _numba.load_runtime()
    assert gc.isenabled() and _numba._runtime_ready


@pytest.mark.skipif(not _numba.ENABLED, reason="numba disabled")
def test_real_runtime_then_a_kernel_runs(fresh):
    import numpy as np

    from liqrisk.core.kernels import rebase_buckets_nb

    _numba.load_runtime()
    from numba.core.registry import cpu_target

    assert cpu_target.target_context._registries  # the registries exist
    b = np.array([[5, -(2**31)]], dtype=np.int32)
    rebase_buckets_nb(b, 2)
    assert b.tolist() == [[3, -1]]
