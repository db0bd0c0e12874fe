"""Process logging: one JSON object per line for log pipelines, or readable text for `payflow dev`.

Structured fields travel in a record's `fields` extra (`log.info("request", extra=fields(...))`), so
every line of a kind carries the same keys whatever the format. Callers put identifiers in them
(tenant, workflow and run ids, activity, attempt, outcome), never arguments or bodies: those can hold
personal data (SPEC §8).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]


def fields(**values: Any) -> dict[str, Any]:
    """The `extra` of a structured line; None values are left out."""
    return {"fields": {k: v for k, v in values.items() if v is not None}}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        text = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        text += f" {extra}" if extra else ""
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Every logger of the process (ours, uvicorn's, the Temporal SDK's) to stderr in `log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx's line per outbound call repeats what the attempt line says, with URLs that can carry ids
    logging.getLogger("httpx").setLevel(logging.WARNING)
