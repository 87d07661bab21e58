# kibench's two images, two targets of this file, both tagged with the package version (pyproject.toml,
# harness/__init__.py __version__; harness/deployspec.py SERVICE_IMAGE and HARNESS_IMAGE name them):
#
#   docker build --target service -t kibench-service:0.1.0 .   # the reference inference service (service.image's default)
#   docker build --target harness -t kibench-harness:0.1.0 .   # kibench itself (the `kibench` CLI), for in-cluster runs
#   kind load docker-image kibench-service:0.1.0 kibench-harness:0.1.0 --name kibench   # kind: into its nodes
#
#   docker run --rm -p 8000:8000 -e KIBENCH_PROFILE=llama-3.1-8b-h100 kibench-service:0.1.0
#   docker run --rm -v "$PWD:/work" kibench-harness:0.1.0 validate scenarios/smoke.yaml
#
# `docker build .` without --target builds the service (the last stage).  The images are CPU only: the emulated
# device needs no GPU; the GPU variant (real-model backend on CUDA) is described in docs/service.md.
# The service reads its configuration from the environment: KIBENCH_PORT, KIBENCH_PROFILE (a named profile, see
# docs/service.md), KIBENCH_BACKEND (emulated | torch), KIBENCH_DEVICE_TIME_MS, KIBENCH_COLD_START_S,
# KIBENCH_GRACE_S, KIBENCH_ADMIN_TOKEN (turns the fault API on), KIBENCH_STATE_DIR (slow-start fault), or
# KIBENCH_SERVICE_CONFIG (a scenario's service section as JSON: what kibench's manifests set).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY harness ./harness
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin kibench


# ---- the harness: `kibench` with every dependency (Locust, Chaos Toolkit, the Kubernetes client, pandas) -------
FROM base AS harness
RUN pip install . \
 && kibench --help > /dev/null \
 && mkdir -p /work/results && chown -R 10001 /work
WORKDIR /work
# The shipped scenarios and the chaos experiments they name (paths relative to the working directory).
COPY --chown=10001 scenarios ./scenarios
COPY --chown=10001 chaos ./chaos
USER 10001
# Run folders go to /work/results: mount a volume there to keep them.
ENTRYPOINT ["kibench"]
CMD ["--help"]


# ---- the reference service: only what `kibench serve` imports -----------------------------------------------
FROM base AS service
RUN pip install --no-deps . \
 && pip install "uvicorn[standard]>=0.30" "starlette>=0.37" "prometheus-client>=0.20" "pydantic>=2.7" \
        "pyyaml>=6" "typer>=0.12" "rich>=13" \
 && kibench serve --help > /dev/null \
 && mkdir -p /var/lib/kibench && chown 10001 /var/lib/kibench

USER 10001
# 0.0.0.0 inside the container so the pod IP reaches it; outside a container the default stays 127.0.0.1.
ENV KIBENCH_HOST=0.0.0.0 \
    KIBENCH_PORT=8000 \
    KIBENCH_PROFILE=resnet50-t4 \
    KIBENCH_COLD_START_S=5 \
    KIBENCH_GRACE_S=30 \
    KIBENCH_STATE_DIR=/var/lib/kibench
EXPOSE 8000
ENTRYPOINT ["kibench", "serve"]
