# syntax=docker/dockerfile:1
# Rendered by trussd <version> for `image-docker-server` (docker_server truss).
# Do not edit: change config.yaml and run `trussd image build-context` again.
# base: the given base image
FROM python:3.12-slim-bookworm

USER root

ENV PYTHONUNBUFFERED="1" \
    PYTHONDONTWRITEBYTECODE="1" \
    PIP_NO_CACHE_DIR="1" \
    PIP_DISABLE_PIP_VERSION_CHECK="1" \
    PIP_ROOT_USER_ACTION="ignore" \
    PIP_PROGRESS_BAR="off" \
    DEBIAN_FRONTEND="noninteractive"

COPY trussd-build/env.sh /opt/trussd-build/env.sh

# system packages (apt)
RUN apt-get update && \
    apt-get install -y --no-install-recommends curl && \
    rm -rf /var/lib/apt/lists/*

# trussd's server in its own environment: user requirements cannot break it
COPY trussd-build/server/ /opt/trussd-build/server/

RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca \
    . /opt/trussd-build/env.sh && \
    /usr/local/bin/python3 -m venv /opt/trussd && \
    /opt/trussd/bin/python -m pip install --quiet --constraint /opt/trussd-build/server/constraints.txt /opt/trussd-build/server/trussd-0.1.0-py3-none-any.whl

# the user the server runs as (uid 1001, not root)
RUN (getent passwd 1001 >/dev/null || useradd --uid 1001 --user-group --no-create-home --home-dir /home/trussd trussd || echo 'trussd:x:1001:1001::/home/trussd:/bin/sh' >> /etc/passwd) && \
    mkdir -p /home/trussd /cache && \
    chown 1001:1001 /home/trussd /cache

# the truss's requirements in the user env
COPY user/requirements.txt /opt/trussd-build/user/requirements.txt

RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca \
    --mount=type=secret,id=pip_token,target=/run/secrets/pip_token \
    . /opt/trussd-build/env.sh && \
    /usr/local/bin/python3 -m venv --system-site-packages /opt/app-venv && \
    /opt/app-venv/bin/python -m pip install -r /opt/trussd-build/user/requirements.txt

ENV PATH="/opt/app-venv/bin:$PATH"

# build_commands[0]
RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca \
    --mount=type=secret,id=pip_token,target=/run/secrets/pip_token \
    . /opt/trussd-build/env.sh && \
    python3 -c "import flask"

# model code
COPY app/code/ /app/

# config last
COPY app/config.yaml /app/config.yaml

ENV HOME="/home/trussd" \
    XDG_CACHE_HOME="/cache" \
    HF_HOME="/cache/huggingface" \
    LOG_LEVEL="info"

LABEL org.opencontainers.image.title="image-docker-server" \
      dev.trussd.version="<version>" \
      dev.trussd.config-hash="<config-hash>" \
      dev.trussd.kind="docker_server" \
      dev.trussd.weights="none"

WORKDIR /app

USER 1001:1001

EXPOSE 8080

# healthy once the model is ready (readiness, GET /v1/models/model)
HEALTHCHECK --interval=15s --timeout=5s --start-period=900s --retries=3 \
    CMD ["/opt/trussd/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/v1/models/model', timeout=4)"]

ENTRYPOINT []

CMD ["/opt/trussd/bin/trussd", "serve", "/app", "--host", "0.0.0.0", "--port", "8080"]
