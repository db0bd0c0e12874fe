"""A bare FastAPI route serving fixed bytes: the P5 baseline for payflow's read routes.

`GET /bytes/{name}` answers the file `<dir>/<name>` (read once at start-up) with its media type from
`<dir>/<name>.type`; no auth, no database. Started like `payflow api` (uvicorn.run, one process):

    python bench/peers/bare_bytes.py --dir D --port P
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI, HTTPException, Response


def create_app(directory: Path) -> FastAPI:
    app = FastAPI(title="bare bytes")
    served = {
        f.name: (f.read_bytes(), f.with_name(f.name + ".type").read_text().strip())
        for f in directory.iterdir()
        if f.suffix != ".type"
    }

    @app.get("/bytes/{name}")
    async def read(name: str) -> Response:
        if name not in served:
            raise HTTPException(404)
        body, media_type = served[name]
        return Response(content=body, media_type=media_type)

    return app


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    uvicorn.run(create_app(args.dir), host="127.0.0.1", port=args.port)
