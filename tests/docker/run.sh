#!/usr/bin/env bash
# Suite docker: builds every image in docker/ and runs docker/compose.yaml (mock gateway, JMeter
# controller, two workers each with its wsfleetd) to completion, then checks what it left in the
# results volume (check_results.py). No Docker engine here: podman (rootful, runc) serves the Docker
# API on a private socket for docker-compose 1.29, with all its state in a temporary folder.
#
#   sudo tests/docker/run.sh            needs root and: podman runc debootstrap docker-compose
#                                       golang-github-containernetworking-plugin-dnsname
# Environment:
#   WSF_DOCKER_CACHE    where the debootstrap base tarball is kept between runs (delete it to
#                       refresh; the Dockerfiles run apt-get update anyway) [tests/docker/.cache]
#   WSF_DEBIAN_MIRROR   for debootstrap [http://deb.debian.org/debian]
#   WSF_DOCKER_RESULTS  where the results volume is copied [$WSF_BUILD_DIR/docker-results]
#   WSF_KEEP_TMP=1      keep the podman folder (images, layers) after the run
#   THREADS, DURATION   JMeter threads per worker and run length, as for the compose file [3, 15]
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or a tool missing).
# Everything podman keeps goes to a temporary folder under /var/tmp, removed at the end with every
# container, network, volume and the API service; the compose network's firewall rules, CNI state
# and net.ipv4.ip_forward are put back as they were.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${WSF_DOCKER_CACHE:-$SRC/tests/docker/.cache}
MIRROR=${WSF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
RESULTS=${WSF_DOCKER_RESULTS:-${WSF_BUILD_DIR:-$SRC/build}/docker-results}
PROJECT=wsfleet
export THREADS=${THREADS:-3} DURATION=${DURATION:-15} RAMPUP=${RAMPUP:-2}
T0=$(date +%s)

log() { echo "[docker $(($(date +%s) - T0))s] $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (rootful podman, debootstrap)"; exit 77
fi
for tool in podman runc debootstrap docker-compose; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool missing (apt-get install podman runc debootstrap docker-compose" \
      "golang-github-containernetworking-plugin-dnsname)"; exit 77
  fi
done
if [ ! -x /usr/lib/cni/dnsname ]; then
  echo "SKIP: the CNI dnsname plugin is missing (golang-github-containernetworking-plugin-dnsname):" \
    "compose services could not resolve each other"; exit 77
fi

WORK=$(mktemp -d /var/tmp/wsfleet-docker.XXXXXX)
mkdir -p "$WORK/net.d" "$WORK/tmp"
# crun fails here on cgroups and rlimits: runc, cgroupfs, explicit ulimits. Network definitions,
# storage, events and temporary files all live in $WORK.
cat > "$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/libpod"
[network]
network_config_dir = "$WORK/net.d"
EOF
cat > "$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$WORK/run"
graphroot = "$WORK/storage"
EOF
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf TMPDIR=$WORK/tmp
pm() { podman --root "$WORK/storage" --runroot "$WORK/run" "$@"; }
COMPOSE=(docker-compose -p "$PROJECT" -f "$SRC/docker/compose.yaml")
SERVICE_PID=
PUMP_PID=
STEP_PID=

# step LOG CMD...: runs a long command as a child, output to LOG, and waits for it: bash runs the
# INT/TERM trap during `wait` (not while a foreground command runs), so an interrupted run cleans
# up at once.
step() {
  local rc=0 out=$1
  shift
  "$@" > "$out" 2>&1 &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=
  return "$rc"
}

# The compose network is a CNI bridge: it adds firewall rules, IPAM and DNS state and turns on IP
# forwarding on the host. Note what was there before, to put the host back as it was.
fw_rules() { for t in filter nat; do iptables -t "$t" -S 2>/dev/null | sed "s/^/$t /"; done; }
FW_BEFORE=$(fw_rules)
FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
HOST_PATHS=(/var/lib/containers /var/lib/cni /run/containers "/var/lib/cni/networks/${PROJECT}_default"
            "/run/containers/cni/dnsname/${PROJECT}_default")
NEW_PATHS=()
for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] || NEW_PATHS+=("$p"); done

restore_host() {
  local after t rule
  after=$(fw_rules)
  # CNI's rules added during the run, then the CNI chains it created
  comm -13 <(echo "$FW_BEFORE" | sort) <(echo "$after" | sort) | grep -i cni | grep ' -A ' |
    while read -r t rule; do eval "iptables -t $t ${rule/#-A /-D }"; done
  comm -13 <(echo "$FW_BEFORE" | sort) <(echo "$after" | sort) | grep ' -N CNI' |
    while read -r t rule; do iptables -t "$t" -F "${rule#-N }"; iptables -t "$t" -X "${rule#-N }"; done
  echo "$FORWARD_BEFORE" > /proc/sys/net/ipv4/ip_forward
  for p in "${NEW_PATHS[@]}"; do rm -rf "$p"; done
}

cleanup() {
  status=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$STEP_PID" ]; then
    kill -TERM "$STEP_PID" 2>/dev/null && wait "$STEP_PID" 2>/dev/null
  fi
  if [ -n "$SERVICE_PID" ]; then
    "${COMPOSE[@]}" down -v --remove-orphans -t 10 >/dev/null 2>&1
  fi
  [ -n "$PUMP_PID" ] && kill "$PUMP_PID" 2>/dev/null && wait "$PUMP_PID" 2>/dev/null
  pm rm -a -f -t 0 >/dev/null 2>&1
  pm pod rm -a -f >/dev/null 2>&1
  for net in $(pm network ls -q 2>/dev/null); do
    [ "$net" = podman ] || pm network rm -f "$net" >/dev/null 2>&1
  done
  pm volume rm -a -f >/dev/null 2>&1
  if [ -n "$SERVICE_PID" ]; then
    kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null
  fi
  restore_host
  if [ -z "${WSF_KEEP_TMP:-}" ]; then
    pm rmi -a -f >/dev/null 2>&1
    # podman leaves its storage mounted; unmount before removing the folder
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$WORK"
  else
    echo "kept $WORK (CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf)"
  fi
  log "exit $status"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the base image: debootstrap, shaped like Docker Hub's debian:bookworm-slim, under its name ---
BASE="$CACHE/debian-bookworm-slim.tar.gz"
if [ ! -f "$BASE" ]; then
  log "debootstrap bookworm (cached as $BASE afterwards)"
  mkdir -p "$CACHE"
  step "$WORK/debootstrap.log" timeout 600 debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" ||
    { tail -20 "$WORK/debootstrap.log"; exit 1; }
  r=$WORK/rootfs
  # What debuerreotype does for the slim images: no docs, man pages or locales from now on, apt
  # without caches or translations, and the sources (with security updates) in deb822 form.
  cat > "$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  echo 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";' > "$r/etc/apt/apt.conf.d/docker-clean"
  echo 'Acquire::Languages "none";' > "$r/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' > "$r/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  rm -f "$r/etc/apt/sources.list"
  cat > "$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  find "$r/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r"/usr/share/{man,info,groff,linda,locale}/* "$r"/var/cache/apt/archives/*.deb \
    "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* "$r"/var/log/*.log "$r"/var/log/apt/*
  tar --numeric-owner -C "$r" -czf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
  rm -rf "$r"
fi
# This machine's own extra CAs (a TLS-intercepting egress proxy, as in a corporate base image) go
# into the stand-in base, so Maven Central and apt work in the builds; the Dockerfiles stay as they
# are for a real engine.
zcat "$BASE" > "$WORK/base.tar"
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  tar --numeric-owner -rf "$WORK/base.tar" -C / ./usr/local/share/ca-certificates
fi
pm import -q --change 'CMD ["bash"]' "$WORK/base.tar" docker.io/library/debian:bookworm-slim >/dev/null
rm -f "$WORK/base.tar"
log "base image ready"

# --- build every image, as `docker build -f docker/X.Dockerfile .` would ---
for image in wsfleetd mockgw jmeter; do
  # --format docker keeps HEALTHCHECK (OCI images have no such field)
  # --network host: RUN steps need no bridge of their own (Docker's builder gives them one)
  if ! step "$WORK/build-$image.log" timeout 900 podman --root "$WORK/storage" --runroot "$WORK/run" \
      build --pull=never --format docker --network host \
      --ignorefile "$SRC/docker/$image.Dockerfile.dockerignore" -f "$SRC/docker/$image.Dockerfile" \
      -t "wsfleet/$image:latest" "$SRC"; then
    tail -40 "$WORK/build-$image.log"; log "FAIL: building $image"; exit 1
  fi
  log "built wsfleet/$image ($(pm image inspect --format '{{.Size}}' "wsfleet/$image:latest" | numfmt --to=si)B)"
done

# --- the daemon image alone: socket in a volume, used from another container; clean stop ---
pm volume create wsf-sock >/dev/null
pm volume create wsf-logs >/dev/null
pm run -d --name wsf-daemon --network none -v wsf-sock:/run/wsfleet -v wsf-logs:/var/log/wsfleet wsfleet/wsfleetd:latest >/dev/null 2>&1
for _ in $(seq 1 50); do pm healthcheck run wsf-daemon >/dev/null 2>&1 && break; sleep 0.2; done
pm healthcheck run wsf-daemon >/dev/null 2>&1 || { pm logs wsf-daemon; log "FAIL: wsfleetd image not healthy"; exit 1; }
open_now=$(pm run --rm --network none -v wsf-sock:/run/wsfleet --entrypoint wsfleet wsfleet/wsfleetd:latest stats 2>/dev/null |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["open"])')
[ "$open_now" = 0 ] || { log "FAIL: wsfleet stats through the shared socket volume said: $open_now"; exit 1; }
pm stop -t 10 wsf-daemon >/dev/null 2>&1
code=$(pm inspect --format '{{.State.ExitCode}}' wsf-daemon)
last=$(pm run --rm --network none -v wsf-logs:/l --entrypoint tail wsfleet/wsfleetd:latest -n 1 /l/events.jsonl 2>/dev/null)
case "$code:$last" in
  0:'{"event":"stop"'*) log "wsfleetd image: healthy, socket shared through a volume, SIGTERM -> exit 0 + stop event" ;;
  *) pm logs wsf-daemon; log "FAIL: wsfleetd container exit $code, last event: $last"; exit 1 ;;
esac
pm rm wsf-daemon >/dev/null 2>&1
pm volume rm wsf-sock wsf-logs >/dev/null

# --- the compose scenario through the Docker API ---
podman --root "$WORK/storage" --runroot "$WORK/run" system service --time=0 "unix://$WORK/podman.sock" \
  > "$WORK/service.log" 2>&1 &
SERVICE_PID=$!
export DOCKER_HOST=unix://$WORK/podman.sock
for _ in $(seq 1 100); do [ -S "$WORK/podman.sock" ] && break; sleep 0.1; done
[ -S "$WORK/podman.sock" ] || { cat "$WORK/service.log"; log "FAIL: podman system service did not start"; exit 1; }

# podman runs health checks from systemd timers, and there is no systemd here: run them on a clock
# the way an engine would, so that `depends_on: condition: service_healthy` works as with Docker.
(
  while :; do
    for c in $(pm ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
      pm healthcheck run "$c" >/dev/null 2>&1 || true
    done
    sleep 2
  done
) &
PUMP_PID=$!

log "compose up (THREADS=$THREADS per worker, DURATION=${DURATION}s)"
set +e
step "$WORK/compose.log" timeout 300 "${COMPOSE[@]}" up --no-build --no-color --exit-code-from controller
compose_status=$?
set -e
"${COMPOSE[@]}" ps -a > "$WORK/compose-ps.txt" 2>&1 || true
log "compose up exited with $compose_status"

mountpoint=$(pm volume inspect --format '{{.Mountpoint}}' "${PROJECT}_results")
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
cp -a "$mountpoint/." "$RESULTS/"
cp "$WORK/compose.log" "$WORK/compose-ps.txt" "$WORK"/build-*.log "$RESULTS/"
log "results in $RESULTS: $(cd "$RESULTS" && ls | tr '\n' ' ')"

if [ "$compose_status" -ne 0 ]; then
  tail -60 "$WORK/compose.log"; log "FAIL: the controller (or compose) exited with $compose_status"; exit 1
fi
# Every container ended by itself or on compose's stop, with status 0.
for svc in mockgw worker1 worker2 controller; do
  code=$(pm inspect --format '{{.State.ExitCode}}' "${PROJECT}_${svc}_1")
  [ "$code" = 0 ] || { tail -60 "$WORK/compose.log"; log "FAIL: $svc exited with $code"; exit 1; }
done
/usr/bin/python3 "$SRC/tests/docker/check_results.py" "$RESULTS" --threads "$THREADS" --workers worker1,worker2 ||
  { tail -40 "$WORK/compose.log"; log "FAIL: results"; exit 1; }
log "PASS"
