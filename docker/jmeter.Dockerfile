# Apache JMeter 5.6.3 with the wsfleet samplers and wsfleetd, for JMeter's distributed mode:
#   worker      wsfleetd, then jmeter-server (`jmeter -s`) whose samplers talk to that daemon
#   controller  `jmeter -n` with your arguments (-t plan -R worker1,worker2 ...)
# Build from the repository root:
#   docker build -f docker/jmeter.Dockerfile -t wsfleet/jmeter .
# JMeter is assembled from its Maven Central artifacts (tests/e2e/jmeter/pom.xml, the recipe the
# e2e tests use), not downloaded as the binary distribution: the build needs Debian's mirror and
# Maven Central only. It has no bin/jmeter scripts; the entry point runs ApacheJMeter.jar.

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

# --- jmeter: JMeter from Maven Central into /opt/jmeter, and the sampler jar in its lib/ext ---
FROM debian:bookworm-slim AS jmeter
# openjdk's postinst wants man directories that slim images leave out.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY tests/e2e/jmeter/pom.xml tests/e2e/jmeter/pom.xml
RUN mvn -B -q -f tests/e2e/jmeter/pom.xml generate-resources -Djmeter.home=/opt/jmeter \
 && mkdir -p /opt/jmeter/lib/junit /opt/jmeter/extras
COPY jmeter-plugin-stub/pom.xml jmeter-plugin-stub/pom.xml
COPY jmeter-plugin-stub/src/main jmeter-plugin-stub/src/main
RUN mvn -B -q -f jmeter-plugin-stub/pom.xml -Dmaven.test.skip=true package \
 && cp jmeter-plugin-stub/target/wsfleet-jmeter-*.jar /opt/jmeter/lib/ext/wsfleet-jmeter.jar

# --- run: a JRE and the daemon's runtime libraries ---
FROM debian:bookworm-slim
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
      libuv1 libwslay1 libmsgpackc2 libssl3 zlib1g ca-certificates python3 python3-msgpack \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /home/wsfleet --create-home --shell /usr/sbin/nologin wsfleet \
 && install -d -o wsfleet -g wsfleet -m 0700 /run/wsfleet \
 && install -d -o wsfleet -g wsfleet -m 0755 /results
COPY --from=build /out/usr/local/ /usr/local/
COPY --from=jmeter /opt/jmeter /opt/jmeter
COPY jmeter-plugin-stub/examples /opt/wsfleet/examples
COPY docker/jmeter-entrypoint.sh /usr/local/bin/wsfleet-jmeter
ENV XDG_RUNTIME_DIR=/run JMETER_HOME=/opt/jmeter
USER wsfleet
WORKDIR /results
# 1099: RMI registry (the name in the controller's -R), 50000: the worker's RMI objects,
# 60000: the controller's callback for samples. All three are set by the entry point.
EXPOSE 1099 50000 60000
# worker: its daemon answers and jmeter-server listens; controller: JMeter is running.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 CMD ["wsfleet-jmeter", "health"]
ENTRYPOINT ["wsfleet-jmeter"]
CMD ["worker"]
