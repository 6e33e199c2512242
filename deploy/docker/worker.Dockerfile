# syntax=docker/dockerfile:1
#
# switchyard-worker: claims attempts, keeps git worktrees, runs the executors under
# limits. Besides the binary it carries what agents and setup scripts expect: git, bash,
# Node.js with npm/npx, python3, ripgrep, jq, curl, and the coding-agent CLIs of
# deploy/docker/agents.txt at the versions the worker pins, so no attempt downloads one.
# Build from the repository root:
#
#   docker build -f deploy/docker/worker.Dockerfile -t switchyard-worker .
#
# At run time only /workspace (the attempt data: repository caches, worktrees, agent
# homes) and /tmp are written, so the root filesystem can be read-only.
#
# Unlike the api and scheduler images, this one runs as root (see the end, and
# docs/DEPLOY.md, "Worker pods").

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG NODE_IMAGE=node:24-bookworm-slim
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
    cargo build --release --locked -p worker --bin switchyard-worker \
 && install -D -m 0755 target/release/switchyard-worker /out/switchyard-worker

# --- The agent CLIs, installed once into their own npm prefix. Each must answer
# `--version` here, so a broken pin fails the build instead of an attempt.
FROM ${NODE_IMAGE} AS agents
COPY deploy/docker/agents.txt /tmp/agents.txt
RUN --mount=type=cache,id=switchyard-npm,target=/root/.npm <<'SH'
set -eu
packages=$(awk '!/^#/ && NF == 3 { print $2 }' /tmp/agents.txt)
npm install --global --prefix /opt/switchyard/agents --no-fund --no-audit --loglevel=warn $packages
awk '!/^#/ && NF == 3 { print $3 }' /tmp/agents.txt | while read -r bin; do
  HOME=$(mktemp -d) /opt/switchyard/agents/bin/"$bin" --version >/dev/null
done
SH

# --- Runtime.
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/switchyard/switchyard
# tini is PID 1: it forwards SIGTERM to the worker and reaps the orphans an agent's
# process group leaves behind. No user is made for attempts: the worker writes the
# passwd and group files they see inside each attempt's own mount namespace.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      bash ca-certificates curl git git-lfs jq less openssh-client procps python3 \
      ripgrep tini unzip xz-utils \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /workspace \
 && chmod 0755 /workspace
# Node.js and npm from the official image (Debian's Node is older than the agents need).
COPY --from=agents /usr/local/bin/node /usr/local/bin/node
COPY --from=agents /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
COPY --from=agents /opt/switchyard/agents /opt/switchyard/agents
COPY --from=builder /out/switchyard-worker /usr/local/bin/switchyard-worker
# Container defaults: data under /workspace, JSON logs, and worker.agent_commands naming
# the preinstalled CLIs (the worker would otherwise start them through `npx`, which
# downloads into the attempt's fresh home each time).
COPY deploy/docker/config/worker.toml /etc/switchyard/config.toml
ENV SWITCHYARD_CONFIG=/etc/switchyard/config.toml \
    PATH=/opt/switchyard/agents/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/workspace \
    TMPDIR=/tmp
# Root, and tini (PID 1) with it: the worker holds the platform's credentials (database,
# Redis and object-store keys, the keys that open org secrets, the GitHub App key) and
# builds the sandbox every attempt runs in: each attempt process runs as an unprivileged
# uid of its own (200000 and up on a host; one uid below 65536 in a Kubernetes pod) in
# new pid, mount, network, IPC and UTS namespaces, with no_new_privs. So no process that
# holds the worker's environment runs as, or can be traced by, an attempt's uid. In
# Kubernetes this root is the root of the pod's user namespace (hostUsers: false), an
# unprivileged uid on the node, and holds only the capabilities the sandbox needs.
USER 0:0
WORKDIR /workspace
VOLUME ["/workspace"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/switchyard-worker"]
LABEL org.opencontainers.image.title="switchyard-worker" \
      org.opencontainers.image.description="Switchyard worker: git worktrees and coding agents under limits, with git, Node.js and the agent CLIs" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Switchyard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
