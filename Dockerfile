# Uptally's image: `uptally serve` (or `uptally agent`, `uptally db upgrade` ...).
# Python 3.11: the version CI tests (.ci/run runs `make test` on the machine's 3.11).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    UPTALLY_DATABASE_URL=sqlite+aiosqlite:////data/uptally.db

WORKDIR /srv/uptally
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY app/__init__.py app/__init__.py
RUN pip install . && pip uninstall -y uptally
# The package itself, installed like any wheel: the migrations, templates and the
# docs' assets are inside it (no source tree needed at run time).
COPY app app
COPY probes probes
RUN pip install --no-deps . \
    && rm -rf /srv/uptally/build \
    && useradd --system --uid 10001 --home-dir /srv/uptally uptally \
    && mkdir -p /data && chown uptally /data

USER uptally
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"
CMD ["uptally", "serve", "--host", "0.0.0.0", "--port", "8000"]
