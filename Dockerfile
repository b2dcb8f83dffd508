# syntax=docker/dockerfile:1
# apiary in a small runtime image, as a non-root user.
#   docker build -t apiary .
#   docker run -p 8080:8080 -e APIARY_API_TOKENS=admin:$(openssl rand -hex 16) apiary
# The default command is `apiary run` (API, workers and scheduler) on an embedded SQLite file in
# /var/lib/apiary; pass `serve`, `worker`, `scheduler` or `migrate` to run one part
# (deploy/compose.yaml and deploy/k8s/ run the parts apart on Postgres and Redis).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin apiary \
    && install -m 0755 target/release/apiary /usr/local/bin/apiary

FROM debian:bookworm-slim
# CA roots for the upstreams' TLS; nothing else: `apiary health` is the health check's client.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/apiary --create-home apiary
COPY --from=build /usr/local/bin/apiary /usr/local/bin/apiary
USER 10001:10001
WORKDIR /var/lib/apiary
ENV APIARY_LISTEN=0.0.0.0:8080 \
    APIARY_DATABASE_URL=sqlite:///var/lib/apiary/apiary.db
EXPOSE 8080
VOLUME ["/var/lib/apiary"]
# A worker or scheduler serves no HTTP: turn this off for them (compose does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["apiary", "health"]
ENTRYPOINT ["apiary"]
CMD ["run"]
