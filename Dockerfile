# syntax=docker/dockerfile:1
# vaultpage: a static, non-root image. This build has no PKCS#11 support
# (that needs cgo and the HSM vendor's module); use the key or components KEK
# sources with it, or build with CGO_ENABLED=1 on a base that has the module.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/vaultpage ./cmd/vaultpage \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vaultpage /usr/local/bin/vaultpage
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/vaultpage
USER nonroot:nonroot
ENV VAULTPAGE_ADDR=0.0.0.0:8080 \
    VAULTPAGE_DATA_DIR=/var/lib/vaultpage
VOLUME /var/lib/vaultpage
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/vaultpage", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/vaultpage"]
CMD ["serve"]
