# syntax=docker/dockerfile:1

# The pillars image: the harness binary, plus the scenario, feature and schema
# files that its relative defaults (`scenarios/…`, `features/`) name. ECS runs
# it as the `pillars` container of the `pillars` task (infra/), with a volume
# at /pillars that holds the target file and receives the reports.
#
# Build: docker build -t pillars .
# Run:   docker run --rm -v "$PWD/target.toml:/pillars/target.toml:ro" pillars \
#          verify --target /pillars/target.toml --report-dir /pillars/reports
#
# Base images are pinned to tags; pin them to digests as well where the
# organisation requires reproducible bases.

# ---------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder

# The slim image's gcc and libc6-dev are all the build needs: TLS is rustls on
# aws-lc-rs, whose C sources the `cc` crate compiles (no cmake, Go or
# OpenSSL); opentelemetry-proto ships generated code (no protoc); no crate
# links a system library.
SHELL ["/bin/bash", "-o", "errexit", "-o", "pipefail", "-c"]
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
WORKDIR /src

# Dependencies in a layer of their own, keyed on the manifests and the lock
# file only, so a source change rebuilds just the two workspace crates. This
# is a plain layer rather than a `--mount=type=cache` on purpose: CI exports
# the build cache to GitHub's cache service (`cache-to: type=gha`), which keeps
# layers but not the contents of cache mounts, so on a fresh runner a cache
# mount is empty and every dependency would be compiled again.
#
# Cargo refuses a manifest whose declared targets are missing, hence a stub for
# each of them (the [[test]] and [[bench]] entries of Cargo.toml included).
COPY Cargo.toml Cargo.lock ./
COPY sim/Cargo.toml sim/Cargo.toml
RUN mkdir -p src sim/src tests benches \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && : > sim/src/lib.rs \
 && for stub in tests/acceptance.rs tests/e2e.rs benches/emit.rs; do echo 'fn main() {}' > "$stub"; done \
 && cargo build --release --locked -p pillars --bin pillars \
 && rm -rf src sim/src

# The whole (filtered, see .dockerignore) source: the sim crate embeds
# compose/grafana/provisioning at compile time.
COPY . .
# COPY keeps the files' own modification times, which can be older than the
# stub build above; touching them makes cargo rebuild the workspace crates
# instead of shipping the stub. The version check proves it did.
RUN find src sim/src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p pillars --bin pillars \
 && install -D -m 0755 target/release/pillars /out/bin/pillars \
 && /out/bin/pillars --version | grep -q '^pillars ' \
 && install -d -m 0755 /out/volume

# ---------------------------------------------------------------------------
# Runtime
# ---------------------------------------------------------------------------
# The binary links only glibc, libm and libgcc_s (ldd), and rustls reads the
# system trust store: distroless/cc has exactly these and no shell or package
# manager. Its glibc (Debian 12) matches the builder's.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG SOURCE_URL=""
ARG REVISION=""
LABEL org.opencontainers.image.title="pillars" \
      org.opencontainers.image.description="Load generator and end-to-end verification harness for the Grafana observability stack" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}"

COPY --from=builder /out/bin/pillars /usr/local/bin/pillars

# Read-only data, owned by root: the relative defaults resolve from here.
WORKDIR /opt/pillars
COPY scenarios/ scenarios/
COPY features/ features/
COPY schema/ schema/

# A fixed, numeric non-root identity, so the task definition, the volume's
# ownership and `docker run --user` can all name it without a passwd entry.
# /pillars is the ECS volume's mount point: Fargate seeds a bind-mount volume
# from the image's VOLUME path of the same name, ownership included, which is
# what lets this user write its reports there.
COPY --from=builder --chown=10001:10001 /out/volume /pillars
USER 10001:10001
VOLUME ["/pillars"]

ENTRYPOINT ["pillars"]
CMD ["--help"]
