"""The JSON log format: one object per line with the structured fields at top level, None left out."""

from __future__ import annotations

import json
import logging

from infra.logs import JsonFormatter, TextFormatter, fields


def _record(**values: object) -> logging.LogRecord:
    record = logging.LogRecord("payflow.activities", logging.INFO, __file__, 1, "activity attempt", (), None)
    record.__dict__.update(fields(**values))
    return record


def test_json_and_text_lines_carry_the_same_fields() -> None:
    record = _record(workflow_id="payment-intent-1", run_id="r1", attempt=2, tenant=None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "activity attempt" and line["level"] == "info"
    assert (line["workflow_id"], line["run_id"], line["attempt"]) == ("payment-intent-1", "r1", 2)
    assert "tenant" not in line and "\n" not in JsonFormatter().format(record)
    text = TextFormatter().format(record)
    assert text.endswith("activity attempt workflow_id=payment-intent-1 run_id=r1 attempt=2")
