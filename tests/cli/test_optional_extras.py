"""The tools' libraries are optional extras: the bot's layers import without them, and a
command that needs one says which extra installs it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from liqrisk.cli import OPTIONAL_EXTRAS, main

REPO = Path(__file__).resolve().parents[2]

#: Blocks the optional libraries in a fresh interpreter, as if they were not installed.
BLOCK = "import sys\nfor name in {names!r}:\n    sys.modules[name] = None\n"


def test_base_dependencies_leave_out_the_tools_libraries():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in deps}
    assert not names & set(OPTIONAL_EXTRAS), names


def test_core_and_adapter_import_without_the_optional_libraries():
    code = BLOCK.format(names=sorted(OPTIONAL_EXTRAS)) + (
        "import liqrisk, liqrisk.adapter\n"
        "from liqrisk.core.synthetic import random_market\n"
        "m = random_market(300, seed=1)\n"
        "f = liqrisk.compute_features(m['ohlcv'], open_interest=m['open_interest'], pair='BTC/USDT:USDT')\n"
        "assert len(f) == 300\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_a_command_missing_its_extra_names_it(monkeypatch, capsys, tmp_path):
    for name in list(sys.modules):
        if name.startswith(("matplotlib", "liqrisk.tools.plot")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["map", "--datadir", str(tmp_path), "--pair", "BTC/USDT:USDT", "--out", str(tmp_path / "m.png")])
    assert code == 2
    assert "pip install 'liqrisk[plot]'" in capsys.readouterr().err
