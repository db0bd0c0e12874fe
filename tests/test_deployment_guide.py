"""docs/deployment.md, run natively step by step so the guide stays true: every ```sh block in order
(step 0, installing the tools, aside), in bash, with `docker` a shell function that runs
`docker compose run|exec [options] SERVICE COMMAND` as COMMAND on this host (`-e` settings kept) and
`docker compose up` with the API's services as a `payflow api` with the stack's secrets. Against a
throw-away PostgreSQL database and the session's Temporal server, as an external cluster."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import yaml
from temporalio.testing import WorkflowEnvironment

from payflow.dev import DEMO_REGISTRY
from payflow.servers import free_port
from tests.conftest import _pg_database
from tests.test_compose_schema import problems

ROOT = Path(__file__).parents[1]
GUIDE = ROOT / "docs" / "deployment.md"
DOCKER = r"""
docker() {  # docker compose, natively (tests/test_deployment_guide.py)
  [ "$1" = compose ] || { echo "docker $1: not a compose command" >&2; return 1; }
  shift; verb=$1; shift
  case "$verb" in
    version|ps) echo "native: docker compose $verb" ;;
    run|exec)
      while [ "${1#-}" != "$1" ]; do
        case "$1" in
          -e) export "$2"; shift 2 ;;
          -v) shift 2 ;;  # mounts a file of this directory where the command reads it
          *) shift ;;
        esac
      done
      shift; (exec "$@") ;;
    up)
      case " $* " in
        *" app-db "*) echo "native: the test's PostgreSQL database" ;;
        *" temporal-setup "*)  # the temporal-namespace and temporal-setup one-shots
          ns=$PAYFLOW_TEMPORAL_NAMESPACE; at=$PAYFLOW_TEMPORAL_ADDRESS
          temporal operator namespace describe --address "$at" -n "$ns" >/dev/null 2>&1 \
            || temporal operator namespace create --address "$at" -n "$ns" --retention 168h
          payflow temporal setup ;;
        *) setsid sh -c 'PAYFLOW_SEARCH_HASH_KEY="$(cat secrets/search-hash.key)" exec payflow api \
             --port "$NATIVE_API_PORT" --no-access-log --log-level warning' > api.log 2>&1 &
           echo $! > api.pid
           for _ in $(seq 300); do curl -fs "$PUBLIC_URL/healthz" >/dev/null && return 0; sleep 0.1; done
           cat api.log; return 1 ;;
      esac ;;
    *) echo "docker compose $verb: not in the native run" >&2; return 1 ;;
  esac
}
"""


def blocks() -> list[tuple[str, str]]:
    """(step heading, block) for every ```sh block of the guide, in order."""
    found, heading = [], ""
    for part in re.split(r"^(## .*)$", GUIDE.read_text(), flags=re.M):
        if part.startswith("## "):
            heading = part
            continue
        found += [(heading, b) for b in re.findall(r"```sh\n(.*?)```", part, re.S)]
    return found


async def test_the_deployment_guide_runs_natively(tmp_path: Path, dev_env: WorkflowEnvironment) -> None:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    shutil.copy(DEMO_REGISTRY, tmp_path / "registry.json")  # openIMIS' export, as step 5 expects
    port = free_port()
    async with _pg_database() as db_url:
        database = db_url.rsplit("/", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYFLOW_")} | {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "PAYFLOW_DATABASE_URL": db_url,  # what docker-compose.yml gives every payflow service
            "PAYFLOW_TEMPORAL_NAMESPACE": "payflow",
            "PAYFLOW_CODEC_KEYS_PATH": str(tmp_path / "secrets" / "codec-keys"),
            "PAYFLOW_JWT_PRIVATE_KEY_PATH": str(tmp_path / "secrets" / "jwt-signing-key.pem"),
            "PAYFLOW_REGISTRY_TENANT": "demo",
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "PAYFLOW_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "NATIVE_API_PORT": str(port),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PGHOST": "127.0.0.1",
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": database,
        }
        outputs = []
        try:
            for heading, block in blocks():
                if heading.startswith("## 0."):  # installing the tools: done by README command (2)
                    continue
                shell = await asyncio.create_subprocess_exec(
                    "bash",
                    "-euo",
                    "pipefail",
                    "-c",
                    DOCKER + block,
                    cwd=tmp_path,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                out = (await asyncio.wait_for(shell.communicate(), 120))[0].decode()
                assert shell.returncode == 0, f"{heading}\n{block}\n{out}"
                outputs.append(out)
        finally:
            pid = tmp_path / "api.pid"
            if pid.exists():
                os.killpg(int(pid.read_text()), signal.SIGTERM)
        text = "\n".join(outputs)
        assert "imported " in text and "token issued" in text, text
        assert re.search(r"no violations.* \(checked", text), text
        assert json.loads((tmp_path / "secrets" / "eo-app.json").read_text())["client_id"], text
        [dump] = (tmp_path / "backups").glob("payflow-*.dump")
        assert dump.read_bytes()[:5] == b"PGDMP" and "backup readable" in text, text
        assert problems(yaml.safe_load((tmp_path / "docker-compose.override.yml").read_text())) == []
