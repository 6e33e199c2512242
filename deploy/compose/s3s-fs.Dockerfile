# syntax=docker/dockerfile:1
#
# s3s-fs: an S3-compatible server on a folder, the same one scripts/run and the tests use.
# For deploy/compose.yaml only: a single-host store, not a replicated one.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
RUN --mount=type=cache,id=switchyard-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    cargo install s3s-fs --version 0.14.1 --features binary --locked --root /out

FROM ${RUNTIME_IMAGE}
RUN groupadd --system --gid 10001 s3 \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin s3 \
 && mkdir -p /data \
 && chown 10001:10001 /data
COPY --from=builder /out/bin/s3s-fs /usr/local/bin/s3s-fs
USER 10001:10001
VOLUME ["/data"]
EXPOSE 9000
ENTRYPOINT ["/usr/local/bin/s3s-fs", "--host", "0.0.0.0", "--port", "9000"]
LABEL org.opencontainers.image.title="switchyard-s3s-fs" \
      org.opencontainers.image.description="s3s-fs 0.14.1, an S3-compatible server on a folder, for Switchyard's compose stack" \
      org.opencontainers.image.licenses="Apache-2.0"
