"""The demo's children take SIGINT even when the demo was started with SIGINT ignored."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from liqrisk.tools.demo.processes import parent_death_preexec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG and /proc are Linux")


def _sigint_ignored(preexec) -> bool:
    code = "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job of `sh -c '... &'`
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             preexec_fn=preexec)
    finally:
        signal.signal(signal.SIGINT, old)
    return out.stdout.strip() == "True"


def test_children_get_sigint_back():
    assert _sigint_ignored(None)  # the inherited ignore the fix undoes
    assert not _sigint_ignored(parent_death_preexec())
