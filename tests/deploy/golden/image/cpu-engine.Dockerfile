# syntax=docker/dockerfile:1
# Rendered by trussd <version> for `image-cpu-engine` (engine truss).
# Do not edit: change config.yaml and run `trussd image build-context` again.
# base: the CPU engine (transformers) on Python 3.11
FROM python:3.11-slim-bookworm

USER root

ENV PYTHONUNBUFFERED="1" \
    PYTHONDONTWRITEBYTECODE="1" \
    PIP_NO_CACHE_DIR="1" \
    PIP_DISABLE_PIP_VERSION_CHECK="1" \
    PIP_ROOT_USER_ACTION="ignore" \
    PIP_PROGRESS_BAR="off" \
    DEBIAN_FRONTEND="noninteractive"

COPY trussd-build/env.sh /opt/trussd-build/env.sh

# trussd's server in its own environment: user requirements cannot break it
COPY trussd-build/server/ /opt/trussd-build/server/

RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca \
    . /opt/trussd-build/env.sh && \
    python3 -m venv /opt/trussd && \
    /opt/trussd/bin/python -m pip install --quiet --constraint /opt/trussd-build/server/constraints.txt /opt/trussd-build/server/trussd-0.1.0-py3-none-any.whl

# the CPU engine (transformers serve) in its own environment
RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca \
    . /opt/trussd-build/env.sh && \
    python3 -m venv /opt/engine && \
    /opt/engine/bin/python -m pip install --quiet --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0 'transformers[serving]==5.24.0'

# the user the server runs as (uid 60000, not root)
RUN (getent passwd 60000 >/dev/null || useradd --uid 60000 --user-group --no-create-home --home-dir /home/trussd trussd || echo 'trussd:x:60000:60000::/home/trussd:/bin/sh' >> /etc/passwd) && \
    mkdir -p /home/trussd /cache && \
    chown 60000:60000 /home/trussd /cache

RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca \
    . /opt/trussd-build/env.sh && \
    python3 -m venv --system-site-packages /opt/app-venv

ENV PATH="/opt/app-venv/bin:$PATH"

# config last
COPY app/config.yaml /app/config.yaml

ENV HOME="/home/trussd" \
    XDG_CACHE_HOME="/cache" \
    HF_HOME="/cache/huggingface" \
    TRUSSD_TRANSFORMERS_PYTHON="/opt/engine/bin/python"

LABEL org.opencontainers.image.title="image-cpu-engine" \
      dev.trussd.version="<version>" \
      dev.trussd.config-hash="<config-hash>" \
      dev.trussd.kind="engine" \
      dev.trussd.weights="mount:/app/weights" \
      dev.trussd.engine="transformers"

WORKDIR /app

USER 60000:60000

EXPOSE 8080

# healthy once the model is ready (readiness, GET /v1/models/model)
HEALTHCHECK --interval=15s --timeout=5s --start-period=900s --retries=3 \
    CMD ["/opt/trussd/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/v1/models/model', timeout=4)"]

ENTRYPOINT []

CMD ["/opt/trussd/bin/trussd", "serve", "/app", "--host", "0.0.0.0", "--port", "8080"]
