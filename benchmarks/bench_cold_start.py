"""Cold-start benchmark: the first ``compute_features`` of a process, in fresh subprocesses.

Targets (issue #16), 2 cores, medians:
- (a) first call with an empty kernel cache (what a fresh install pays once): <= 10 s;
- (b) a second process, cache warm: the kernel load only (about 0.5 s);
- (c) a read-only package folder (a Docker image's site-packages), HOME in a temp
  folder: the first process compiles into the user cache, the next loads it (c2).

Each sample is a new Python process on ``random_market(3000, seed=1)`` (one chunk) and
reports import time and the first call; (a) also runs ``liqrisk warmup``'s parts for
the total of every variant. The read-only copy is made read-only with a read-only bind
mount in a private mount namespace when running as root (root ignores ``chmod``),
else with ``chmod -R a-w``; the child checks that it cannot write there.

Usage: ``.venv/bin/python benchmarks/bench_cold_start.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, os, sys, time
t = time.perf_counter()
import liqrisk
from liqrisk import compute_features
from liqrisk.core import _numba
from liqrisk.core.synthetic import random_market
t_import = time.perf_counter() - t
pkg = os.path.dirname(liqrisk.__file__)
try:
    open(os.path.join(pkg, ".write-probe"), "w").close()
    os.remove(os.path.join(pkg, ".write-probe"))
    writable = True
except OSError:
    writable = False
m = random_market(3000, seed=1)
t = time.perf_counter()
compute_features(m["ohlcv"], open_interest=m["open_interest"], funding_rate=m["funding_rate"], mark=m["mark"],
                 pair="BTC/USDT:USDT")
t_first = time.perf_counter() - t
t_all = None
if "--all" in sys.argv:
    from liqrisk.cli import warmup
    t = time.perf_counter()
    warmup.start(type("A", (), {"all": False})())
    t_all = time.perf_counter() - t
print(json.dumps({"import": t_import, "first": t_first, "variants": t_all, "pkg": pkg,
                  "pkg_writable": writable, "cache": str(_numba.cache_dir())}))
"""


def _child(env: dict, *args: str, read_only: Path | None = None) -> dict:
    cmd = [sys.executable, "-c", CHILD, *args]
    if read_only is not None and os.geteuid() == 0:
        quoted = " ".join(f"'{c}'" for c in cmd)
        script = (f"mount --bind '{read_only}' '{read_only}' && mount -o remount,bind,ro '{read_only}' && "
                  f"exec {quoted}")
        cmd = ["unshare", "-m", "sh", "-c", script]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "LIQRISK_CACHE_DIR")}
    env.update(extra)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {k: [] for k in ("a", "a_all", "b", "c", "c2", "import")}
    where = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env = _env(LIQRISK_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(ROOT))
            a = _child(env, "--all")
            b = _child(env)
            rows["a"].append(a["first"])
            rows["a_all"].append(a["first"] + a["variants"])
            rows["b"].append(b["first"])
            rows["import"].append(b["import"])
            # (c): a read-only copy of the package, HOME in a temp folder, no cache override.
            site = tmp / "site"
            shutil.copytree(ROOT / "liqrisk", site / "liqrisk", ignore=shutil.ignore_patterns("__pycache__"))
            for p in sorted(site.rglob("*"), reverse=True):
                p.chmod(p.stat().st_mode & ~0o222)
            env_c = _env(PYTHONPATH=str(site), HOME=str(tmp / "home"))
            env_c.pop("XDG_CACHE_HOME", None)
            c = _child(env_c, read_only=site)
            c2 = _child(env_c, read_only=site)
            assert not c["pkg_writable"] and c["pkg"].startswith(str(site)), c
            assert c["cache"].startswith(str(tmp / "home")), c
            rows["c"].append(c["first"])
            rows["c2"].append(c2["first"])
            where = {"a": a["cache"], "c": c["cache"]}
            for p in site.rglob("*"):
                p.chmod(p.stat().st_mode | 0o200)
            site.chmod(0o700)

    def med(key: str) -> str:
        return f"{statistics.median(rows[key]):6.2f} s median  (runs {' '.join(f'{x:.2f}' for x in rows[key])})"

    print(f"cold start, {args.repeat} fresh cache folders, first compute_features on 3,000 candles")
    print(f"(a)  empty cache, first call          {med('a')}   target <= 10 s")
    print(f"     + every other variant (warmup)   {med('a_all')}")
    print(f"(b)  second process, cache warm       {med('b')}")
    print(f"     its import of liqrisk            {med('import')}")
    print(f"(c)  read-only package, first process {med('c')}   cache: {where.get('c')}")
    print(f"(c2) read-only package, next process  {med('c2')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
