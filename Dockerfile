# syntax=docker/dockerfile:1
#
# The payflow application image. One image, several roles, chosen by the command:
#   payflow api --host 0.0.0.0 --port 8000   (default)
#   payflow worker
#   payflow migrate
#   payflow temporal setup                   (register custom search attributes)
#   payflow registry import FILE
#   uvicorn --factory simulators.gateway:create_app --host 0.0.0.0 --port 8100
#   uvicorn --factory simulators.sms:create_app --host 0.0.0.0 --port 8200
# Settings come from PAYFLOW_* environment variables (infra/settings.py); docker-compose.yml wires them.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the project and its dependencies into a virtualenv --------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The dependencies exactly as locked, with hashes (`sh requirements/refresh.sh`), in a cached layer.
COPY requirements/runtime.lock requirements/
RUN pip install --require-hashes -r requirements/runtime.lock
# Only what `pip install .` packages (pyproject.toml [tool.setuptools]); tests and bench stay out.
COPY pyproject.toml worker.py ./
COPY domain/ domain/
COPY gepg/ gepg/
COPY infra/ infra/
COPY store/ store/
COPY workflows/ workflows/
COPY activities/ activities/
COPY api/ api/
COPY payflow/ payflow/
COPY simulators/ simulators/
# The project itself, resolving nothing: every dependency came from the lock above.
RUN pip install --no-deps . && rm -rf build *.egg-info

# --- runtime: the virtualenv only, run as an unprivileged user ----------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 payflow \
    && useradd --system --uid 10001 --gid payflow --home-dir /app --create-home --shell /usr/sbin/nologin payflow

COPY --from=build /opt/venv /opt/venv

# The working directory is writable by the app user: PAYFLOW_DATA_DIR (.payflow) resolves under it.
WORKDIR /app
USER payflow:payflow

EXPOSE 8000

# No HEALTHCHECK here: the image runs several roles (API, worker, one-shot jobs); each compose
# service declares the check that fits its role.
CMD ["payflow", "api", "--host", "0.0.0.0", "--port", "8000"]
