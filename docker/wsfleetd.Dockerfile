# wsfleetd, the daemon, with the `wsfleet` CLI. Build from the repository root:
#   docker build -f docker/wsfleetd.Dockerfile -t wsfleet/wsfleetd .
# The control socket is /run/wsfleet/wsfleetd.sock, in a volume, so that a client in another
# container (running as uid 10001, the socket being 0600) can use it.

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
 && apt-get install -y --no-install-recommends libuv1 libwslay1 libmsgpackc2 libssl3 zlib1g ca-certificates \
      python3 python3-msgpack \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin wsfleet \
 && install -d -o wsfleet -g wsfleet -m 0700 /run/wsfleet \
 && install -d -o wsfleet -g wsfleet -m 0755 /var/log/wsfleet
COPY --from=build /out/usr/local/ /usr/local/
# Both the daemon and the CLI put the socket at $XDG_RUNTIME_DIR/wsfleet/wsfleetd.sock.
ENV XDG_RUNTIME_DIR=/run
USER wsfleet
VOLUME ["/run/wsfleet", "/var/log/wsfleet"]
# Healthy = the daemon answers a control request on its socket.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["wsfleet", "--timeout", "3", "stats"]
# SIGTERM: close frames (1001) to every connection, a final `stop` event, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["wsfleetd"]
CMD ["--events", "/var/log/wsfleet/events.jsonl"]
