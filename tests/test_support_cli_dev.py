"""The support CLI against `payflow dev` in the same directory, in a shell with no PAYFLOW_* set: it
finds the stack by its dev.json (default data dir `.payflow`, or `--data-dir`); with the stack stopped,
or nothing to find, each command is one line naming what to do, and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import httpx

from tests.api.test_get_control_number import SEED_SAMPLE
from tests.test_dev_stack import PAYFLOW, _token, dev_stack

BARE = {k: v for k, v in os.environ.items() if not k.startswith("PAYFLOW_")} | {"COLUMNS": "80"}
"""A newcomer's shell: no PAYFLOW_* variable, an 80-column terminal."""


async def _run(cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        PAYFLOW, *args, cwd=cwd, env=BARE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert b"Traceback" not in out + err, (args, out.decode(), err.decode())
    return int(process.returncode or 0), out.decode(), err.decode()


def _one_line_error(args: tuple[str, ...], done: tuple[int, str, str], *words: str) -> None:
    code, out, err = done
    assert code != 0 and len(err.strip().splitlines()) == 1, (args, out, err)
    assert all(w in err for w in words), (args, err)


async def test_support_commands_find_payflow_dev(tmp_path: Path) -> None:
    (tmp_path / ".payflow").symlink_to(tmp_path / "data")  # `payflow dev` with its default data dir
    commands: list[tuple[str, ...]] = []
    async with (
        dev_stack(tmp_path, "internal") as manifest,
        httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http,
    ):
        headers = await _token(http, manifest, "demo-eo-app") | {"Content-Type": "application/json"}
        answer = (await http.post("/api/GetControlNumber", content=SEED_SAMPLE, headers=headers)).json()
        cn = answer["control_number"]
        commands = [
            ("payments", "list"),
            ("payments", "show", cn),
            ("--data-dir", str(tmp_path / "data"), "events", "list"),
            ("check",),
        ]
        listed, shown, events, checked = await asyncio.gather(*(_run(tmp_path, *c) for c in commands))
        assert listed[0] == 0 and cn in listed[1], listed  # whole, at 80 columns
        intent_id = next(line for line in shown[1].splitlines() if line.startswith("intent_id"))
        assert intent_id.split()[-1] in listed[1], (intent_id, listed)
        assert shown[0] == 0 and re.search(rf"^control_number +{cn}$", shown[1], re.M), shown
        assert "{" not in shown[1], shown  # fields, not a Python dict
        assert events[0] == 0 and "payment_intent.created" in events[1], events
        assert checked[0] == 0 and checked[1].startswith("no violations"), checked
    stopped = await asyncio.gather(*(_run(tmp_path, *c) for c in commands))
    for args, done in zip(commands, stopped, strict=True):
        _one_line_error(args, done, "payflow dev", "not running")
    nowhere = tmp_path / "elsewhere"
    nowhere.mkdir()
    for args in commands[:2]:
        _one_line_error(args, await _run(nowhere, *args), "PAYFLOW_DATABASE_URL", "payflow dev")
    assert not (nowhere / ".payflow").exists()  # nothing created by looking


async def test_a_missing_codec_key_is_one_line(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'payflow.db'}"
    args = ("check",)
    process = await asyncio.create_subprocess_exec(
        PAYFLOW,
        *args,
        cwd=tmp_path,
        env=BARE | {"PAYFLOW_DATABASE_URL": database, "PAYFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert b"Traceback" not in out + err, err.decode()
    _one_line_error(args, (int(process.returncode or 0), out.decode(), err.decode()), "PAYFLOW_CODEC_KEYS")
