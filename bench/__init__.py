from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Coroutine
from typing import Any, NoReturn


def run_and_exit(main: Coroutine[Any, Any, int | None]) -> NoReturn:
    """Run a benchmark's coroutine and leave with its code without interpreter finalisation, where
    the Temporal native runtime can crash (sdk-python #300)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    code = 0
    try:
        code = asyncio.run(main) or 0
    except KeyboardInterrupt:
        code = 130
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
