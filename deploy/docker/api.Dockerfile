# syntax=docker/dockerfile:1
#
# switchyard-api: the HTTP API, SSE streams and the dashboard; also `migrate` and
# `bootstrap-org`. Build from the repository root:
#
#   docker build -f deploy/docker/api.Dockerfile -t switchyard-api .
#
# BuildKit is required (cache mounts; the ignore file is api.Dockerfile.dockerignore).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- Rust: the registry, git checkouts and target/ live in cache mounts shared by the
# three service images (same ids), so a rebuild compiles only what changed.
FROM ${RUST_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=switchyard-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=switchyard-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=switchyard-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p api --bin switchyard-api \
 && install -D -m 0755 target/release/switchyard-api /out/switchyard-api

# --- The dashboard (web/): its dependencies are a layer of their own, rebuilt only when
# the lock file changes.
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,id=switchyard-npm,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=warn
COPY web/ ./
RUN npm run build

# --- Runtime: glibc, CA certificates and zlib; nothing runs a shell.
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/switchyard/switchyard
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 switchyard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin switchyard
COPY --from=builder /out/switchyard-api /usr/local/bin/switchyard-api
COPY --from=web /web/dist /usr/share/switchyard/web
# Container defaults (listen on every interface, serve the dashboard, JSON logs). A
# deployment replaces this file (the chart mounts its ConfigMap over /etc/switchyard) or
# overrides single keys with SWITCHYARD__SECTION__KEY variables.
COPY deploy/docker/config/api.toml /etc/switchyard/config.toml
ENV SWITCHYARD_CONFIG=/etc/switchyard/config.toml
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/switchyard-api"]
CMD ["serve"]
LABEL org.opencontainers.image.title="switchyard-api" \
      org.opencontainers.image.description="Switchyard API: HTTP API, SSE streams and the dashboard; migrate and bootstrap-org" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Switchyard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
