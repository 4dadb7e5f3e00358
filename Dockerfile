# Novel Engine in a container: a static binary on a distroless base, run
# as a non-root user, with a health check.
#
#   docker build -t novel-engine .
#   docker run -p 8080:8080 novel-engine
#
# --build-arg VERSION=v1.2.3 stamps the version `novel-engine version`
# prints (the release tags are vX.Y.Z; see CHANGELOG.md).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
# CGO off: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" \
      -o /out/novel-engine ./cmd/novel-engine \
 && /out/novel-engine version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/novel-engine /novel-engine
ENV NOVEL_ADDR=:8080
EXPOSE 8080
# distroless's nonroot user (uid 65532); the root filesystem may be
# read-only: the node writes nothing to disk.
USER 65532:65532
# The image has no shell or curl: the binary asks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/novel-engine", "healthcheck"]
# SIGTERM drains: readyz turns 503, stories finish their turn and move to
# other nodes, sockets close with 1001.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/novel-engine"]
CMD ["serve"]
