#!/usr/bin/env bash
# Makes sure a Docker engine answers, for the containers test backend (shared/testing/src/redis-container.ts).
#
# Idempotent: does nothing when `docker info` already answers. Otherwise installs docker.io with apt-get
# if dockerd is missing, starts dockerd in the background (log: $REDISPATCH_DOCKERD_LOG), and waits for
# `docker info`. Our sandboxes (root, Debian 12, no systemd) may refuse parts of what dockerd sets up, so
# it tries, in order, until one answers:
#   1. default settings
#   2. --iptables=false --ip6tables=false          (no NAT rules; the bridge and -p 127.0.0.1:... still work)
#   3. --storage-driver=vfs                         (no overlayfs)
#   4. --iptables=false --ip6tables=false --storage-driver=vfs
#   5. --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs
#      (no bridge network: redis-container.ts then runs Redis with host networking on 127.0.0.1)
# REDISPATCH_DOCKERD_FLAGS='--flag ...' tries only those flags.
# Never fails: if no engine can be started it prints a LOUD warning and exits 0; the container tests
# then fail under REDISPATCH_REQUIRE_DOCKER=1 (.ci/run sets it) and skip loudly elsewhere. A dockerd that did not come up is stopped again, never left behind.
set -uo pipefail

LOG="${REDISPATCH_DOCKERD_LOG:-/tmp/redispatch-dockerd.log}"
WAIT_SECONDS="${REDISPATCH_DOCKERD_WAIT:-60}"

warn() {
  {
    echo '************************************************************************'
    echo '***'
    echo "*** start-docker: $*"
    echo '*** Docker engine unavailable: container tests will FAIL under REDISPATCH_REQUIRE_DOCKER=1 (CI), else skip'
    echo '***'
    echo '************************************************************************'
  } >&2
}

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  echo 'start-docker: Docker engine already answers'
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    warn 'dockerd is missing and cannot be installed here (needs root and apt-get)'
    exit 0
  fi
  echo 'start-docker: installing docker.io with apt-get'
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq docker.io; } >>"$LOG" 2>&1; then
    warn "apt-get install docker.io failed (see $LOG)"
    exit 0
  fi
fi

# A dockerd already starting (e.g. a concurrent run of this script): give it the chance to answer.
if [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  for _ in $(seq 1 "$WAIT_SECONDS"); do
    if engine_answers; then
      echo 'start-docker: Docker engine answers (started earlier)'
      exit 0
    fi
    sleep 1
  done
  warn "a dockerd (pid $(cat /var/run/docker.pid)) runs but does not answer; not starting another"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  warn 'no Docker engine answers, and starting dockerd needs root'
  exit 0
fi

# Stops the dockerd we started (and the containerd it spawned), so a failed try leaves nothing running.
stop_dockerd() {
  local pid=$1 containerd_pid=''
  if [ -s /var/run/docker/containerd/containerd.pid ]; then
    containerd_pid=$(cat /var/run/docker/containerd/containerd.pid)
  fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null
  if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
    kill -TERM "$containerd_pid" 2>/dev/null
    sleep 1
    kill -KILL "$containerd_pid" 2>/dev/null
  fi
  rm -f /var/run/docker.pid
}

# Starts dockerd with the given flags; 0 once `docker info` answers, 1 (dockerd stopped) otherwise.
try_dockerd() {
  echo "=== $(date -u +%FT%TZ) dockerd $*" >>"$LOG"
  setsid dockerd "$@" </dev/null >>"$LOG" 2>&1 &
  local pid=$!
  local waited=0
  while [ "$waited" -lt "$WAIT_SECONDS" ]; do
    if engine_answers; then
      echo "start-docker: Docker engine answers (dockerd pid $pid, flags: ${*:-none}, log: $LOG)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "start-docker: dockerd ${*:-(default flags)} exited; last log lines:" >&2
      tail -n 5 "$LOG" | sed 's/^/    /' >&2
      stop_dockerd "$pid"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "start-docker: dockerd ${*:-(default flags)} did not answer within ${WAIT_SECONDS} s; stopping it" >&2
  stop_dockerd "$pid"
  return 1
}

tries=(
  ''
  '--iptables=false --ip6tables=false'
  '--storage-driver=vfs'
  '--iptables=false --ip6tables=false --storage-driver=vfs'
  '--iptables=false --ip6tables=false --bridge=none --storage-driver=vfs'
)
# REDISPATCH_DOCKERD_FLAGS='...' tries only those flags (to reproduce one fallback).
if [ -n "${REDISPATCH_DOCKERD_FLAGS+set}" ]; then tries=("$REDISPATCH_DOCKERD_FLAGS"); fi
for flags in "${tries[@]}"; do
  # shellcheck disable=SC2086 # the flags are meant to split
  if try_dockerd $flags; then
    exit 0
  fi
done

warn "dockerd did not start with any fallback flags (see $LOG)"
exit 0
