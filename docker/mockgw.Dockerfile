# The mock gateway (tests/mockgw): a model of the chat gateway for tests and demos, not a product.
#   docker build -f docker/mockgw.Dockerfile -t wsfleet/mockgw .
#   docker run --rm -p 8080:8080 wsfleet/mockgw --idle-timeout 120 --overload-above 150 --overload-idle-timeout 45
# Options (tests/mockgw/README.md) follow the image name; it listens on 0.0.0.0:8080.

# --- build: the same stage in every wsfleet Dockerfile, so the builds share its layers ---
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev pkg-config meson ninja-build python3 \
      libuv1-dev libwslay-dev libmsgpack-dev libssl-dev zlib1g-dev node-llhttp \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build ./
COPY protocol protocol
COPY daemon daemon
COPY tests tests
RUN meson setup /build --buildtype=release --prefix=/usr/local \
 && ninja -C /build daemon/wsfleetd tests/mockgw/mockgw tests/mockgw/wsfleet-mockgw \
 && meson install -C /build --strip --no-rebuild --destdir /out

# --- run: runtime libraries only ---
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libuv1 libwslay1 libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin wsfleet
COPY --from=build /build/tests/mockgw/mockgw /usr/local/bin/mockgw
USER wsfleet
EXPOSE 8080
# Healthy = it answers a WebSocket upgrade with 101 (bash's /dev/tcp: no client tools in the image).
HEALTHCHECK --interval=5s --timeout=5s --start-period=2s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET / HTTP/1.1\\r\\nHost: localhost\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 101'"]
# SIGTERM prints the counters as one JSON line and exits.
ENTRYPOINT ["mockgw", "--host", "0.0.0.0", "--port", "8080"]
