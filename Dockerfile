# ragway gateway image. Install steps are the Makefile's own (`make install`).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake make git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml Makefile README.md ./
COPY gateway ./gateway
COPY retrieval ./retrieval
COPY configs ./configs
RUN make install

ENV LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
EXPOSE 8000
# Indexes are built at start when missing (mount ./indexes to keep them).
CMD ["sh", "-c", "make indexes && .venv/bin/ragway serve --host 0.0.0.0"]
