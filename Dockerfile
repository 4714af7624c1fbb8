# syntax=docker/dockerfile:1
# One image with the example API and the three exporters, built from this workspace.
# docker-compose.monitoring.yml runs each service with its own command; so can Kubernetes.
#
#   docker build -t aiplatform/observability:local .

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Cache the registry and the target directory between builds; copy the binaries out of the
# cache mount, which does not outlive this step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p aiplatform-examples --bin aiplatform-api \
        -p aiplatform-node-exporter \
        -p aiplatform-postgres-exporter \
        -p aiplatform-redis-exporter \
    && mkdir -p /out \
    && cp target/release/aiplatform-api \
          target/release/aiplatform-node-exporter \
          target/release/aiplatform-postgres-exporter \
          target/release/aiplatform-redis-exporter \
          /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin aiplatform
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
# aiplatform-api, node, Redis and PostgreSQL exporters.
EXPOSE 8000 9100 9121 9187
CMD ["aiplatform-api", "--listen", "0.0.0.0:8000"]
