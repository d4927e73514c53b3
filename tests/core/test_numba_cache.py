"""Where compiled kernels are cached, and that the cache follows every kernel source.

The cache folder is ``<root>/<fingerprint>``: the fingerprint covers the contents of all
``KERNEL_SOURCES`` and the versions, so editing any of them (not only the jitted
function's own file, which is all numba checks) starts a fresh folder.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liqrisk.core import _numba

PACKAGE = _numba.PACKAGE_DIR
VERSIONS = {"liqrisk": "1", "numba": "0.68", "numpy": "2", "python": "3.11"}


def _copy_sources(dst: Path) -> Path:
    for rel in _numba.KERNEL_SOURCES:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_bytes((PACKAGE / rel).read_bytes())
    return dst


def test_fingerprint_changes_with_any_kernel_source_and_version(tmp_path):
    pkg = _copy_sources(tmp_path / "pkg")
    env = {"LIQRISK_CACHE_DIR": str(tmp_path / "cache")}
    first = _numba.fingerprint(pkg, versions=VERSIONS)
    assert first == _numba.fingerprint(pkg, versions=dict(VERSIONS))  # stable
    folder, origin = _numba.choose_cache_dir(env, pkg, first)
    assert folder == tmp_path / "cache" / first and origin == _numba.CACHE_ENV
    seen = {first}
    # A constant edited in a module that only *feeds* a kernel (numba would miss it).
    for rel in ("core/kernels.py", "tools/sim/cohort_layout.py", "core/kernels_book.py"):
        with open(pkg / rel, "a") as f:
            f.write("\n# edited\n")
        fp = _numba.fingerprint(pkg, versions=VERSIONS)
        assert fp not in seen, rel
        seen.add(fp)
        assert _numba.choose_cache_dir(env, pkg, fp)[0] == tmp_path / "cache" / fp
    for key in VERSIONS:
        fp = _numba.fingerprint(pkg, versions={**VERSIONS, key: "other"})
        assert fp not in seen, key
        seen.add(fp)


def test_kernel_sources_cover_every_jitted_module_and_what_it_imports():
    listed = set(_numba.KERNEL_SOURCES)
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text())
        imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if "liqrisk.core._numba" not in imports or rel == "core/_numba.py":
            continue
        assert rel in listed, f"{rel} has kernels: add it to liqrisk.core._numba.KERNEL_SOURCES"
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("liqrisk.")):
                continue
            for name in [node.module] + [f"{node.module}.{a.name}" for a in node.names]:
                dep = name.removeprefix("liqrisk.").replace(".", "/") + ".py"
                if (PACKAGE / dep).is_file():
                    assert dep in listed, f"{rel} compiles code from {dep}: add it to KERNEL_SOURCES"


def test_cache_root_order_and_fallback_when_the_package_is_read_only(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    read_only_pkg = blocker / "pkg"  # cannot be created, even by root
    home = tmp_path / "home"
    env = {"HOME": str(home)}
    folder, origin = _numba.choose_cache_dir(env, read_only_pkg, "0123456789abcdef")
    assert folder == home / ".cache" / "liqrisk" / "0123456789abcdef"
    assert "__pycache__" in origin and "not writable" in origin
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert _numba.choose_cache_dir(env, read_only_pkg, "0123456789abcdef")[0].parent == tmp_path / "xdg" / "liqrisk"
    writable_pkg = tmp_path / "pkg"
    assert _numba.choose_cache_dir(env, writable_pkg, "0123456789abcdef")[0].parent == (
        writable_pkg / "__pycache__" / "numba")
    env[_numba.CACHE_ENV] = str(blocker / "nope")  # unusable override: say so, fall back
    folder, origin = _numba.choose_cache_dir(env, writable_pkg, "0123456789abcdef")
    assert folder.parent == writable_pkg / "__pycache__" / "numba" and _numba.CACHE_ENV in origin


def test_nothing_writable_means_no_cache(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    folder, why = _numba.choose_cache_dir({"HOME": str(blocker)}, blocker / "pkg", "0123456789abcdef")
    assert folder is None and "not writable" in why


def test_prune_keeps_the_most_recent_fingerprints(tmp_path):
    folders = []
    for i in range(7):
        f = tmp_path / f"{i:016x}"
        f.mkdir()
        os.utime(f, (time.time() - 100 + i, time.time() - 100 + i))
        folders.append(f)
    (tmp_path / "not-a-fingerprint").mkdir()
    gone = _numba.prune(folders[2], keep=3)  # in use, though old
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([folders[2].name, folders[5].name, folders[6].name, "not-a-fingerprint"])
    assert len(gone) == 4


_CHILD = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
import numpy as np
from liqrisk.core import _numba, kernels
b = np.array([[3, kernels.VOID]], dtype=np.int32)
kernels.rebase_buckets_nb(b, 1)
assert b.tolist() == [[2, -1]]
st = kernels.rebase_buckets_nb.stats
print(json.dumps({"dir": str(_numba.cache_dir()), "path": st.cache_path,
                  "hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values())}))
"""


@pytest.mark.skipif(not _numba.ENABLED, reason="kernels run as plain Python: nothing is cached")
def test_kernels_compile_once_into_the_chosen_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", _numba.CACHE_ENV)}
    env[_numba.CACHE_ENV] = str(tmp_path / "cache")
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300,
                              cwd=PACKAGE.parent)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        assert proc.stderr.count("compiled kernels cached in") == 1, proc.stderr  # logged once
    first, second = runs
    folder = tmp_path / "cache" / _numba.fingerprint()
    assert first["dir"] == str(folder) and first["path"] == str(folder / "core")
    assert (first["misses"], second["hits"], second["misses"]) == (1, 1, 0)
    assert any(folder.joinpath("core").glob("kernels.rebase_buckets_nb-*.nbi"))
