# drctl's container image: `drctl watch` as a long-running controller (ECS,
# Kubernetes), with the state in a DynamoDB table.
#
#   scripts/container build            # builds drctl here, then the image
#   docker run --rm -e DRCTL_REPO=https://github.com/org/dr-policies.git \
#       -e DRCTL_STATE=dynamodb://drctl-state -e AWS_REGION=us-east-1 drctl:dev
#
# Multi-stage: drctl is compiled in a Rust stage (BUILDER=compile, the
# default) or taken prebuilt from the build context (BUILDER=prebuilt: the
# context holds prebuilt/drctl and prebuilt/lib/), then copied into a
# distroless runtime (glibc, OpenSSL, CA certificates; no shell, no package
# manager) as a non-root user.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BUILDER=compile

FROM ${RUST_IMAGE} AS compile
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
ARG DRCTL_BUILD_COMMIT=unknown
ARG DRCTL_BUILD_DATE=
# zlib is the one library drctl links that the distroless image lacks.
RUN DRCTL_BUILD_COMMIT="$DRCTL_BUILD_COMMIT" DRCTL_BUILD_DATE="$DRCTL_BUILD_DATE" \
        cargo build --release --locked --bin drctl \
    && mkdir -p /out/lib \
    && cp target/release/drctl /out/drctl \
    && strip /out/drctl \
    && cp -L "$(ldd /out/drctl | awk '$1 ~ /^libz\.so/ { print $3 }')" /out/lib/

FROM scratch AS prebuilt
COPY prebuilt/ /out/

FROM ${BUILDER} AS build

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/drctl /usr/local/bin/drctl
COPY --from=build /out/lib/ /usr/local/lib/drctl/
ENV LD_LIBRARY_PATH=/usr/local/lib/drctl \
    DRCTL_CACHE_DIR=/home/nonroot/.drctl/cache \
    DRCTL_STATE=dynamodb://drctl-state
USER nonroot:nonroot
WORKDIR /home/nonroot
EXPOSE 9464
# `drctl health` asks the watch's /healthz: the image has no curl or shell.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["/usr/local/bin/drctl", "health"]
# SIGTERM: the watch finishes the steps under way, gives back its leases
# and exits 0 (a second signal exits at once; the next run resumes).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/drctl"]
CMD ["watch", "--metrics-addr", "0.0.0.0:9464"]
