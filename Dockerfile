# syntax=docker/dockerfile:1
# One image for every gymfloor process: `gymfloor ingest`, `gymfloor api`, `gymfloor edge`,
# `gymfloor simulate --live`, the admin commands (`tokens`, `members`, `reps export`,
# `store upgrade`) and the health checks (`check api`, `check ingest`).
# docker-compose.yml runs it; docs/DEPLOY.md explains the stack.

# --- 1. The front-end libraries the API's pages load from /static/vendor/ ----------------------
FROM node:20-bookworm-slim AS web-assets
WORKDIR /src
COPY web/ web/
COPY scripts/vendor-web-assets scripts/vendor-web-assets
RUN bash scripts/vendor-web-assets

# --- 2. The gymfloor wheel, built from the sources with the vendored files in place -------------
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services/ services/
COPY edge/ edge/
COPY --from=web-assets /src/services/gymfloor/api/static/vendor/ services/gymfloor/api/static/vendor/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- 3. The runtime image -----------------------------------------------------------------------
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GYMFLOOR_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/var/cache/gymfloor/numba

RUN groupadd --system --gid 10001 gymfloor \
    && useradd --system --uid 10001 --gid gymfloor --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin gymfloor \
    && mkdir -p /data /var/cache/gymfloor/numba \
    && chown gymfloor:gymfloor /data /var/cache/gymfloor/numba

# A regular (non-editable) install of the wheel, dependencies from PyPI; with the PostgreSQL
# driver, for the cluster's store (docker-compose.cluster.yml).
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --no-cache-dir "$(ls /wheels/gymfloor-*.whl)[postgres]"

USER gymfloor
WORKDIR /data

# The detector is compiled by numba on first use (several seconds). Compile it once here, so a
# container starts detecting at once; on a CPU unlike the build machine's, numba compiles again
# into the same (writable) cache.
RUN gymfloor simulate --machines 1 --visits 1 --perfect -o /tmp/warm-up.jsonl \
    && gymfloor analyze /tmp/warm-up.jsonl -o /dev/null \
    && rm /tmp/warm-up.jsonl

# The store, the ingest journal and the time-series spool live here: mount a volume.
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["gymfloor"]
CMD ["api", "--host", "0.0.0.0"]
