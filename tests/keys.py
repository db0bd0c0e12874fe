"""The test run's payload encryption and search-hash keys, made per run (no secret in the repo).

Set as PAYFLOW_* variables when this module is first imported (by conftest, before any fixture), so
every `Settings()` of the run and every payflow process a test spawns reads the same keys, as the
processes of one deployment do; a variable already set wins.
"""

from __future__ import annotations

import os
import secrets

from infra.codec import new_key_entry
from infra.settings import Settings
from infra.temporal import data_converter

os.environ.setdefault("PAYFLOW_CODEC_KEYS", new_key_entry(f"test-{secrets.token_hex(3)}"))
os.environ.setdefault("PAYFLOW_SEARCH_HASH_KEY", secrets.token_hex(32))

CONVERTER = data_converter(Settings())
"""The production converter (codec included) with the run's keys."""
