"""The README stays true to the code: every model key is in its table, with its default."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

from liqrisk import LiqConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def _table() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("## Configuration keys"):]
    section = section[:section.index("\n## ", 1)]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| `([^`]*)` \|", section, re.M)}


def test_every_key_is_documented_with_its_default():
    table = _table()
    defaults = LiqConfig().to_dict()
    assert set(table) == {f.name for f in fields(LiqConfig)}
    for key, shown in table.items():
        value = defaults[key]
        want = json.loads(shown)
        if isinstance(value, tuple):
            value = list(value)
        assert want == value, f"README shows {key} = {shown}, the code's default is {value!r}"


def test_readme_is_short():
    assert len(README.read_text().splitlines()) < 250
