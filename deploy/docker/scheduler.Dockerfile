# syntax=docker/dockerfile:1
#
# switchyard-scheduler: queued → scheduled within org limits, the lease reaper, queue
# repair, and the capacity backend (Kubernetes Jobs in a cluster). Build from the
# repository root:
#
#   docker build -f deploy/docker/scheduler.Dockerfile -t switchyard-scheduler .
#
# This image holds no worker binary, so the `local` capacity backend cannot run here:
# its default is `external` (workers started by someone else, as in deploy/compose.yaml);
# the chart sets `kubernetes`.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- Rust, with the cache mounts shared by the three service images (see api.Dockerfile).
FROM ${RUST_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=switchyard-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=switchyard-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=switchyard-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p scheduler --bin switchyard-scheduler \
 && install -D -m 0755 target/release/switchyard-scheduler /out/switchyard-scheduler

# --- Runtime: glibc and CA certificates; nothing runs a shell.
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
COPY --from=builder /out/switchyard-scheduler /usr/local/bin/switchyard-scheduler
COPY deploy/docker/config/scheduler.toml /etc/switchyard/config.toml
ENV SWITCHYARD_CONFIG=/etc/switchyard/config.toml
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/switchyard-scheduler"]
LABEL org.opencontainers.image.title="switchyard-scheduler" \
      org.opencontainers.image.description="Switchyard scheduler: fair dispatch, lease reaper, queue repair and the capacity backend" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Switchyard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
