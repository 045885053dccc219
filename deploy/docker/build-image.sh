#!/usr/bin/env bash
# Builds the root Dockerfile the way CI (deploy/test/image.test.ts) does, on a machine without
# registry access:
#
#   deploy/docker/build-image.sh -t redispatch:test [more docker build options]
#
# = docker build --network=host --build-arg BASE_IMAGE=$REDISPATCH_BASE_IMAGE \
#       [--build-arg BUILD_EXTRA_CA_PEM="$(node deploy/docker/extra-ca-certs.mjs)"] "$@" <repo>
#
# - BASE_IMAGE: $REDISPATCH_BASE_IMAGE, default redispatch/node-base:20 (.ci/build-node-base-image.sh)
#   when that image exists; otherwise the Dockerfile's own default (node:20-bookworm-slim).
# - --network=host: the build's npm (and apt-get, on a Debian base) reach the registry like the host.
# - BUILD_EXTRA_CA_PEM: the CAs the host trusts beyond Node's built-in roots (our sandboxes reach the
#   registry through a TLS-intercepting proxy). Only the build stages declare it, and only for the npm
#   RUNs; TLS verification stays on, and the runtime image carries no CA. Set
#   REDISPATCH_BUILD_EXTRA_CA=0 to leave it out. A real build with direct registry access needs none
#   of this: `docker build -t IMAGE .`
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
args=(--network=host)

base="${REDISPATCH_BASE_IMAGE:-}"
if [ -z "$base" ] && docker image inspect redispatch/node-base:20 >/dev/null 2>&1; then
  base=redispatch/node-base:20
fi
if [ -n "$base" ]; then args+=(--build-arg "BASE_IMAGE=$base"); fi

if [ "${REDISPATCH_BUILD_EXTRA_CA:-1}" != 0 ]; then
  extra_ca=$(node "$repo/deploy/docker/extra-ca-certs.mjs")
  if [ -n "$extra_ca" ]; then
    echo "build-image: passing $(grep -c 'BEGIN CERTIFICATE' <<<"$extra_ca") extra CA certificate(s) to npm in the build stages" >&2
    args+=(--build-arg "BUILD_EXTRA_CA_PEM=$extra_ca")
  fi
fi

exec docker build "${args[@]}" "$@" "$repo"
