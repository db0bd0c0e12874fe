"""docs/configuration.md is generated from infra/settings.py and cannot drift from it: every setting
is there, with its default and what it does, and the ones production must set are marked."""

from __future__ import annotations

from pathlib import Path

from infra.settings import Settings
from payflow.settings_doc import REQUIRED_IN_PRODUCTION, render

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in Settings.model_fields if f"`PAYFLOW_{name.upper()}`" not in text]
    assert not missing, f"not in {DOC.name}: {missing}; run `python -m payflow.settings_doc`"
    assert text == render(), f"{DOC.name} is stale: run `python -m payflow.settings_doc`"


def test_required_settings_are_marked() -> None:
    assert set(REQUIRED_IN_PRODUCTION) <= set(Settings.model_fields)
    for name in REQUIRED_IN_PRODUCTION:
        [row] = [line for line in render().splitlines() if line.startswith(f"| `PAYFLOW_{name.upper()}`")]
        assert "**required**" in row, row
    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    assert len(undocumented) < len(Settings.model_fields) / 2, undocumented  # docstrings are read
