#!/bin/sh
# wsfleet-jmeter: entry point of the wsfleet/jmeter image.
#   worker [JMETER_ARGS...]      start wsfleetd, then jmeter-server (`jmeter -s`) whose samplers use
#                                that daemon; when jmeter-server exits (SIGTERM, or the controller's
#                                -X) the daemon gets SIGTERM, writes its `stop` event and exits;
#                                exit status 0 when both ended cleanly or on SIGTERM
#   controller [JMETER_ARGS...]  `jmeter -n` with the given arguments (-t, -R, -l, -G..., -X)
#   health                       the image's HEALTHCHECK
#   anything else                run as a command
# Environment (defaults in brackets):
#   RMI_HOSTNAME      the name other JMeter processes reach this one by [first address of hostname -i]
#   RMI_PORT          worker: RMI registry port, what the controller's -R names [1099]
#   RMI_LOCAL_PORT    worker: port of its RMI objects [50000]
#   RMI_CLIENT_PORT   controller: port of its sample listener, which workers call back [60000]
#   WSF_SOCKET        the daemon's socket [$XDG_RUNTIME_DIR/wsfleet/wsfleetd.sock]
#   WSF_EVENTS        worker: the daemon's event log [none]
#   WSFLEETD_ARGS     worker: more daemon options (e.g. --keepalive-mode ping) [none]
#   JMETER_LOG        JMeter's log file [/tmp/jmeter.log]
#   JVM_ARGS          options for the JVM [none: the JVM sizes its heap from the container's memory]
set -eu

JMETER_HOME=${JMETER_HOME:-/opt/jmeter}
SOCK=${WSF_SOCKET:-${XDG_RUNTIME_DIR:-/run}/wsfleet/wsfleetd.sock}
RMI_PORT=${RMI_PORT:-1099}
ROLE_FILE=/tmp/wsfleet-jmeter.role

rmi_hostname() {
  if [ -n "${RMI_HOSTNAME:-}" ]; then
    echo "$RMI_HOSTNAME"
  else
    hostname -i | cut -d' ' -f1
  fi
}

# jmeter exec|run ARGS...: JMeter with the common options, replacing this (sub)shell or as its child.
jmeter() {
  how=$1
  shift
  # shellcheck disable=SC2086  # JVM_ARGS is a list of options
  set -- java ${JVM_ARGS:-} -Djava.rmi.server.hostname="$(rmi_hostname)" \
    -jar "$JMETER_HOME/bin/ApacheJMeter.jar" -j "${JMETER_LOG:-/tmp/jmeter.log}" "$@"
  echo "wsfleet-jmeter: $*" >&2
  if [ "$how" = exec ]; then exec "$@"; else "$@"; fi
}

worker() {
  echo worker > "$ROLE_FILE"
  # shellcheck disable=SC2086  # WSFLEETD_ARGS is a list of options
  wsfleetd --socket "$SOCK" ${WSF_EVENTS:+--events "$WSF_EVENTS"} ${WSFLEETD_ARGS:-} &
  daemon_pid=$!
  i=0
  until [ -S "$SOCK" ]; do
    if ! kill -0 "$daemon_pid" 2>/dev/null || [ "$i" -ge 100 ]; then
      echo "wsfleet-jmeter: wsfleetd did not start" >&2
      kill -TERM "$daemon_pid" 2>/dev/null || true
      exit 1
    fi
    i=$((i + 1))
    sleep 0.1
  done

  jmeter exec -s -Jserver_port="$RMI_PORT" -Jserver.rmi.localport="${RMI_LOCAL_PORT:-50000}" \
    -Jwsfleet.transport=unix -Jwsfleet.socket="$SOCK" "$@" &
  jmeter_pid=$!
  # A stop request goes to JMeter first; the daemon follows when JMeter is gone.
  stopping=0
  trap 'stopping=1; kill -TERM "$jmeter_pid" 2>/dev/null || true' TERM INT
  set +e
  while :; do
    wait "$jmeter_pid"
    status=$?
    kill -0 "$jmeter_pid" 2>/dev/null || break # exited; otherwise a signal interrupted wait
  done
  trap - TERM INT
  # JMeter ended by the stop we asked for (docker stop, compose's end of run) is a clean end.
  if [ "$stopping" = 1 ] && [ "$status" -eq 143 ]; then status=0; fi
  kill -TERM "$daemon_pid" 2>/dev/null
  wait "$daemon_pid"
  dstatus=$?
  echo "wsfleet-jmeter: jmeter-server exited with $status, wsfleetd with $dstatus" >&2
  [ "$status" -ne 0 ] && exit "$status"
  exit "$dstatus"
}

controller() {
  echo controller > "$ROLE_FILE"
  jmeter exec -n -Jclient.rmi.localport="${RMI_CLIENT_PORT:-60000}" "$@"
}

health() {
  case "$(cat "$ROLE_FILE" 2>/dev/null)" in
    worker)
      wsfleet --socket "$SOCK" --timeout 3 stats >/dev/null &&
        bash -c "exec 3<>/dev/tcp/127.0.0.1/$RMI_PORT" ;;
    controller) kill -0 1 ;;
    *) exit 1 ;;
  esac
}

case "${1:-}" in
  worker | controller | health)
    role=$1
    shift
    "$role" "$@" ;;
  *) exec "$@" ;;
esac
