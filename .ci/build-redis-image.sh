#!/usr/bin/env bash
# Builds the local Redis image the containers test backend runs (shared/testing/src/redis-container.ts).
#
# No registry can be pulled from on our machines, so the image is assembled from the host instead:
# /usr/bin/redis-server (resolved: on Debian it is a symlink to redis-check-rdb, and redis picks its
# mode from argv[0], so it is copied under the name redis-server), every library `ldd` lists, and the
# dynamic loader, tarred and fed to `docker import`. No shell, no coreutils: redis-server only.
#
# Idempotent: does nothing if the image already exists (REDISPATCH_REBUILD_IMAGE=1 forces a rebuild).
# Exits 0 with a warning when no Docker engine answers (run .ci/start-docker.sh first); non-zero only
# on a real build error while Docker is up.
set -euo pipefail

IMAGE="${REDISPATCH_TEST_REDIS_IMAGE:-redispatch/redis-local:7}"

warn() {
  {
    echo '************************************************************************'
    echo "*** build-redis-image: $*"
    echo '************************************************************************'
  } >&2
}

if ! docker info >/dev/null 2>&1; then
  warn "Docker engine unavailable: image $IMAGE NOT built; container tests will be SKIPPED"
  exit 0
fi

if [ "${REDISPATCH_REBUILD_IMAGE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "build-redis-image: $IMAGE already present"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo 'build-redis-image: installing redis-server with apt-get'
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

started=$(date +%s)
src=$(readlink -f "$(command -v redis-server)")
root=$(mktemp -d /tmp/redispatch-redis-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/usr/bin" "$root/tmp" "$root/data" "$root/etc"
# Mirror a merged-/usr host (/lib -> usr/lib, ...) so each library is stored once.
for dir in lib lib32 lib64 libx32 bin sbin; do
  if [ -L "/$dir" ] && [[ "$(readlink "/$dir")" != /* ]]; then
    mkdir -p "$root/$(readlink "/$dir")"
    ln -s "$(readlink "/$dir")" "$root/$dir"
  fi
done
chmod 1777 "$root/tmp"
cp "$src" "$root/usr/bin/redis-server"

# `ldd` lines: "libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
# and "linux-vdso.so.1 (0x...)" (kernel-provided, no file). Copy each file at the path ldd names and
# at its resolved path, so both the loader's search and any symlinked directory layout work.
libs=$(ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
if [ -z "$libs" ]; then
  echo "build-redis-image: ldd listed no libraries for $src" >&2
  exit 1
fi
for lib in $libs; do
  for path in "$lib" "$(readlink -f "$lib")"; do
    if [ ! -e "$root$path" ]; then
      mkdir -p "$root$(dirname "$path")"
      cp -L "$lib" "$root$path"
    fi
  done
done

# Minimal identity files: redis never needs them to run, but some libc paths look them up.
echo 'root:x:0:0:root:/data:/usr/bin/redis-server' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# Smoke-check the root filesystem on the host before importing it (chroot needs root).
if [ "$(id -u)" = 0 ] && ! chroot "$root" /usr/bin/redis-server --version >/dev/null 2>&1; then
  echo "build-redis-image: redis-server does not run inside the assembled root ($root)" >&2
  exit 1
fi

tar -C "$root" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/bin/redis-server"]' \
  --change 'WORKDIR /data' \
  --change 'EXPOSE 6379' \
  --message "redis-server $(redis-server --version | awk '{print $3}') from the host, for redispatch tests" \
  - "$IMAGE" >/dev/null

if ! docker run --rm "$IMAGE" --version >/dev/null; then
  warn "$IMAGE was built but a container of it does not run: container tests will fail"
fi
echo "build-redis-image: built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes) in $(($(date +%s) - started)) s"
