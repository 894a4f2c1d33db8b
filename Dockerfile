# ragway gateway image. The install steps are the Makefile's own (`make install`); torch comes from
# PyTorch's CPU wheel index (TORCH_INDEX), so the image never pulls CUDA wheels and needs no local cache.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake make git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml Makefile README.md ./
COPY gateway ./gateway
COPY retrieval ./retrieval
RUN make install PYTHON=python3 TORCH_INDEX=https://download.pytorch.org/whl/cpu \
    && rm -rf /root/.cache/pip

# The embedder's ONNX export (embedder.backend: onnx, the default) is made once here, not at every start;
# the image's gateway.yaml reads it from embedder.cache_dir /app/embedders.
RUN HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python -c \
    "from pathlib import Path; from retrieval.embedder import open_embedder; \
open_embedder(backend='onnx', cache_dir=Path('/app/embedders'))" \
    && chmod -R a+rX /app/embedders

# The demo routes with the image's gateway.yaml: auth closed, indexes and the request log on /data.
COPY configs ./configs
COPY deploy/docker/gateway.yaml ./configs/gateway.yaml
COPY deploy/docker/entrypoint.sh /usr/local/bin/ragway-entrypoint

RUN useradd --system --uid 10001 --create-home ragway \
    && mkdir -p /data/indexes \
    && chown -R ragway:ragway /data
USER ragway

ENV PATH=/app/.venv/bin:$PATH \
    RAGWAY_CONFIG=/app/configs \
    LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

# /data holds indexes/ (built on first start from /data/banking77/train.csv when missing, or mounted
# pre-built) and ragway-logs.db (the SQLite log when no PostgreSQL is configured).
VOLUME ["/data"]
# The OpenAI-compatible API, /healthz (liveness), /readyz (readiness) and /metrics.
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# Clients need RAGWAY_API_KEY (and admins RAGWAY_ADMIN_KEY) in the container's environment.
ENTRYPOINT ["ragway-entrypoint"]
CMD ["ragway", "serve", "--config", "/app/configs"]
