# syntax=docker/dockerfile:1
#
# Gantry's container image, in three stages:
#   ui     builds the admin panel (web/ -> web/dist) with Node;
#   build  compiles the gantry binary, which embeds web/dist;
#   final  a small runtime: glibc, CA certificates, the binary, a non-root user.
#
# Build with BuildKit (the default builder of Docker 23+, `docker buildx build`,
# buildah and kaniko also read this file):
#   docker build -t gantry .
# Run and configure it only through GANTRY_* variables; see docs/deploy/docker.md.

ARG RUST_VERSION=1.95
ARG NODE_VERSION=22

# ---------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS ui
WORKDIR /src/web
# Dependencies first: this layer is reused until package-lock.json changes.
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src

# 1. Dependencies only. The workspace manifests and the lock file, with empty
#    stand-ins for every crate's sources, so that the compiled dependencies
#    form a layer that is reused until a Cargo.toml or Cargo.lock changes.
#    Every workspace member's Cargo.toml must be listed here (the manifest test
#    in crates/deploy checks that).
COPY Cargo.toml Cargo.lock ./
COPY crates/api/Cargo.toml crates/api/
COPY crates/core/Cargo.toml crates/core/
COPY crates/deploy/Cargo.toml crates/deploy/
COPY crates/domains/Cargo.toml crates/domains/
COPY crates/gantry/Cargo.toml crates/gantry/
COPY crates/monitoring/Cargo.toml crates/monitoring/
COPY crates/proxy/Cargo.toml crates/proxy/
COPY crates/pve/Cargo.toml crates/pve/
COPY crates/pvesim/Cargo.toml crates/pvesim/
COPY crates/servers/Cargo.toml crates/servers/
COPY crates/ssh/Cargo.toml crates/ssh/
COPY crates/store/Cargo.toml crates/store/
COPY crates/tasks/Cargo.toml crates/tasks/
COPY crates/testfleet/Cargo.toml crates/testfleet/
COPY crates/tls/Cargo.toml crates/tls/
# The registry and git caches are BuildKit cache mounts (shared between
# builds); the compiled dependencies stay in target/, in this layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    set -eu; \
    for dir in crates/*/; do \
      mkdir -p "${dir}src"; \
      : > "${dir}src/lib.rs"; \
      if grep -q 'src/main.rs' "${dir}Cargo.toml"; then echo 'fn main() {}' > "${dir}src/main.rs"; fi; \
    done; \
    cargo build --release --locked -p gantry; \
    rm -rf crates

# 2. The real sources and the built panel. Their timestamps come from the
#    build context and may be older than the stand-ins', so they are touched:
#    cargo then rebuilds Gantry's own crates, and only those.
COPY crates/ crates/
COPY --from=ui /src/web/dist web/dist
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    set -eu; \
    find crates -name '*.rs' -exec touch {} +; \
    cargo build --release --locked -p gantry; \
    install -D -m 0755 target/release/gantry /out/usr/local/bin/gantry; \
    /out/usr/local/bin/gantry --version; \
    mkdir -p /out/data

# ---------------------------------------------------------------------------
# distroless/cc: glibc, libgcc, CA certificates (Gantry verifies ACME, Proxmox
# and S3 endpoints against the system roots), no shell, no package manager.
# Its Debian release matches the build stage's, so the glibc versions agree.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="gantry" \
      org.opencontainers.image.description="Gantry: a self-hosted infrastructure control plane (REST API, admin panel, workers)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/usr/local/bin/gantry /usr/local/bin/gantry
COPY --from=build --chown=65532:65532 /out/data /data
# Listen on every interface (the default is loopback only), keep the SQLite
# database, the generated master key and local attachments in /data, and log
# JSON lines. Everything else: GANTRY_* variables at run time.
ENV GANTRY_LISTEN=0.0.0.0:8080 \
    GANTRY_DATA_DIR=/data \
    GANTRY_LOG_FORMAT=json
# The distroless "nonroot" user, numerically, so that Kubernetes'
# runAsNonRoot can verify it.
USER 65532:65532
VOLUME /data
EXPOSE 8080
# `gantry healthcheck` asks the local /livez (it reads GANTRY_LISTEN) and
# exits 0 when it answers; no shell or curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/gantry", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gantry"]
CMD ["serve"]
