# QP Ledger API: `qp-ledger serve` (gunicorn) on port 8000, PostgreSQL via psycopg2.
# docker-compose.yml runs it next to PostgreSQL 15; tests/test_deployment_files.py
# checks this file and the compose file agree with api/config.py.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY api ./api
RUN pip install ".[postgres]" && rm -rf /src

# An unprivileged user; its home is the working directory, so the embedded
# SQLite default (qp-ledger.db) is writable when no database URL is given.
# /var/lib/qp-ledger/keys holds the checkpoint signing key (a volume in
# docker-compose.yml): created here, owned by qp and private, so a new named
# volume mounted on it starts with that owner and mode.
RUN useradd --create-home --uid 10001 qp \
    && mkdir -p /var/lib/qp-ledger/keys \
    && chown -R qp:qp /var/lib/qp-ledger \
    && chmod 700 /var/lib/qp-ledger/keys
USER qp
WORKDIR /home/qp

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]
CMD ["qp-ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]
