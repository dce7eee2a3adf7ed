# syntax=docker/dockerfile:1
#
# Guildhall: one static binary that runs as the web app, the Temporal worker, the
# watcher, the migration Job and the container health check.
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     -t forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0 .
#
# CGO is off: the embedded DB default is modernc.org/sqlite (pure Go) and nothing else
# needs libc, so the binary is static and runs on an empty base image. templ output
# (*_templ.go) is committed, so the build does not run `templ generate`.
# deploy/dockerfile_test.go parses this file with buildkit's parser and checks it.

# ---- build: pinned to the Go release go.mod names ----
FROM golang:1.26.8 AS build
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS=-buildvcs=false

# Dependencies first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

# Then the source (see .dockerignore for what stays out of the context).
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/guildhall ./cmd/guildhall \
 && /out/guildhall --help >/dev/null

# The runtime image's few files: a user and group for uid 1000, a writable /tmp and
# a working directory owned by that user (the embedded DB default lives under it).
RUN mkdir -p /out/rootfs/etc /out/rootfs/tmp /out/rootfs/data \
 && echo 'guildhall:x:1000:1000:guildhall:/data:/sbin/nologin' > /out/rootfs/etc/passwd \
 && echo 'guildhall:x:1000:' > /out/rootfs/etc/group \
 && chmod 1777 /out/rootfs/tmp \
 && chown 1000:1000 /out/rootfs/data

# ---- runtime: nothing but the binary, CA certificates and the files above ----
FROM scratch AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="guildhall" \
      org.opencontainers.image.description="Guildhall ceremony orchestrator: web, worker, watcher, migrate" \
      org.opencontainers.image.source="https://forgejo.guildhouse.dev/guildhouse/guildhall" \
      org.opencontainers.image.url="https://forgejo.guildhouse.dev/guildhouse/guildhall" \
      org.opencontainers.image.vendor="guildhouse" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/rootfs/ /
COPY --from=build /out/guildhall /usr/local/bin/guildhall
ENV GUILDHALL_ADDR=:4000 \
    METRICS_ADDR=:9090 \
    LOG_FORMAT=json
WORKDIR /data
USER 1000:1000
EXPOSE 4000 9090
# Web: GET /health on GUILDHALL_ADDR; worker and watcher: GET /healthz on METRICS_ADDR.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/guildhall", "healthcheck", "--target", "auto"]
ENTRYPOINT ["/usr/local/bin/guildhall"]
CMD ["web"]
