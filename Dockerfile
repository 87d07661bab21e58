# The kibench reference inference service, CPU image (the emulated device needs no GPU).
#
#   docker build -t kibench-service:0.1.0 .          # the name and tag kibench's manifests use (SERVICE_IMAGE)
#   docker run --rm -p 8000:8000 -e KIBENCH_PROFILE=llama-3.1-8b-h100 kibench-service:0.1.0
#   kind load docker-image kibench-service:0.1.0      # platform.kind kubernetes on kind (docs/kubernetes.md)
#
# Configuration comes from the environment: KIBENCH_PORT, KIBENCH_PROFILE (a named profile, see
# docs/service.md), KIBENCH_BACKEND (emulated | torch), KIBENCH_DEVICE_TIME_MS, KIBENCH_COLD_START_S,
# KIBENCH_GRACE_S, KIBENCH_ADMIN_TOKEN (turns the fault API on), KIBENCH_STATE_DIR (slow-start fault).
# The GPU variant (real-model backend on CUDA) is described in docs/service.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY harness ./harness

# Only what `kibench serve` imports: the service needs none of the harness's heavy dependencies
# (Locust, Chaos Toolkit, pandas, matplotlib, the Kubernetes client).
RUN pip install --no-deps . \
 && pip install "uvicorn[standard]>=0.30" "starlette>=0.37" "prometheus-client>=0.20" "pydantic>=2.7" \
        "pyyaml>=6" "typer>=0.12" "rich>=13" \
 && kibench serve --help > /dev/null \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin kibench \
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
