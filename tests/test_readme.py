"""The README's "Try it" block, extracted verbatim, run in bash against a `payflow dev` this test starts
(in the directory the block expects: `.payflow/` and `.venv/` beside it): it reaches MATCHED and
prints the three SMS."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from tests.test_dev_stack import dev_stack

ROOT = Path(__file__).parents[1]


def try_it_block() -> str:
    section = ROOT.joinpath("README.md").read_text().split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```bash\n(.*?)```", section, re.S)
    return block


async def test_readme_try_it_runs_as_printed(tmp_path: Path) -> None:
    (tmp_path / ".payflow").symlink_to(tmp_path / "data")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYFLOW_")} | {"COLUMNS": "100"}
    async with dev_stack(tmp_path, "gateway"):
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            try_it_block(),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out = (await asyncio.wait_for(shell.communicate(), 180))[0].decode()
    assert shell.returncode == 0 and "Traceback" not in out, out
    assert "status MATCHED" in out, out
    sms = [line for line in out.splitlines() if line.startswith("SMS to 0681333045:")]
    assert [s.split(": ", 1)[1].split()[0] for s in sms] == ["Control", "Payment", "Payment"], out
    assert "paid successfully" in sms[2], out
