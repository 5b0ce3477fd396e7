# sigil as a container image: a release build in the Rust image, run from distroless (no shell,
# no package manager) as the non-root user 65532. Every setting comes from the environment
# (see `sigil serve --help`); the defaults below suit a container: listen on every interface,
# the management port (probes, metrics) apart, state under /var/lib/sigil.
#   docker build -t sigil .
#   docker run -p 8080:8080 -e SIGIL_ISSUER=http://localhost:8080 sigil
# Probes belong to the orchestrator (deploy/compose.yaml, deploy/kubernetes/): the image has
# no HEALTHCHECK, and nothing in it could run one.

FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
# The protobuf compiler is pure Rust (protox) and SQLite is bundled; OpenSSL is the system's.
# librdkafka (the Kafka sink) is built from the rdkafka-sys crate and linked statically: its
# configure script wants make and a C++ compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config=1.8.* libssl-dev=3.0.* \
      make=4.3-* g++=4:12.2.* \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin sigil \
 && install -d -o 65532 -g 65532 -m 0700 /state/var/lib/sigil

# cc-debian12 carries glibc, libgcc and OpenSSL 3 (the build stage's Debian release).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/sigil /usr/local/bin/sigil
COPY --from=build --chown=65532:65532 /state/var/lib/sigil /var/lib/sigil
ENV SIGIL_LISTEN=0.0.0.0:8080 \
    SIGIL_GRPC_LISTEN=0.0.0.0:50051 \
    SIGIL_MANAGEMENT_LISTEN=0.0.0.0:9090 \
    SIGIL_KEYS_DIR=/var/lib/sigil/keys \
    DATABASE_URL=sqlite:///var/lib/sigil/sigil.db \
    SIGIL_LOG_FORMAT=json
WORKDIR /var/lib/sigil
USER 65532:65532
EXPOSE 8080 50051 9090
VOLUME ["/var/lib/sigil"]
ENTRYPOINT ["/usr/local/bin/sigil"]
CMD ["serve"]
