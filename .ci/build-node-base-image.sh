#!/usr/bin/env bash
# Builds the local Node 20 base image that deploy/test/image.test.ts builds the root Dockerfile on
# (`--build-arg BASE_IMAGE=redispatch/node-base:20`). No registry can be pulled from on our machines,
# so it cannot be node:20-bookworm-slim; like .ci/build-redis-image.sh it is assembled from the host
# and fed to `docker import`, in a few seconds and without any download but one small .deb:
#   /usr/local/bin/node                 the host's node (resolved), plus every library `ldd` lists and
#                                       the dynamic loader, at the paths ldd names
#   /usr/local/lib/node_modules/npm     the host's npm, with /usr/local/bin/npm and npx linked as in the
#                                       official image (the Dockerfile's runtime stage deletes them)
#   /usr/bin/tini-static                Debian's tini package (installed on the host if missing); the
#                                       Dockerfile's build stage takes it instead of apt-get installing it
#   /usr/bin/busybox + applet links     Debian's busybox-static (apt-get download, not installed): /bin/sh,
#                                       env (npm's shebang), rm, mkdir, find, test... for the RUN steps
#   /etc/passwd, group, nsswitch.conf   root and nobody only
# Deliberately NOT included: any CA bundle. Node uses its built-in roots; the runtime stage inherits
# this image, so a sandbox proxy CA here would end up in the shipped image. The build passes extra CAs
# to npm in the build stages only (deploy/docker/build-image.sh, BUILD_EXTRA_CA_PEM in the Dockerfile).
#
# Deterministic content: the root filesystem is tarred sorted, with mtime 0 and numeric root ownership,
# so the same host binaries give the same layer digest.
# Idempotent: does nothing if the image already exists (REDISPATCH_REBUILD_IMAGE=1 forces a rebuild).
# Exits 0 with a loud warning when no Docker engine answers (the image test then skips, loudly);
# non-zero only on a real build error while Docker is up.
set -euo pipefail

IMAGE="${REDISPATCH_NODE_BASE_IMAGE:-redispatch/node-base:20}"
NODE_MAJOR=20

warn() {
  {
    echo '************************************************************************'
    echo "*** build-node-base-image: $*"
    echo '************************************************************************'
  } >&2
}

if ! docker info >/dev/null 2>&1; then
  warn "Docker engine unavailable: image $IMAGE NOT built; the image test will be SKIPPED"
  exit 0
fi

if [ "${REDISPATCH_REBUILD_IMAGE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "build-node-base-image: $IMAGE already present"
  exit 0
fi

node_bin=$(readlink -f "$(command -v node)")
node_version=$("$node_bin" -p 'process.versions.node')
if [ "${node_version%%.*}" != "$NODE_MAJOR" ]; then
  warn "host node is v$node_version, not $NODE_MAJOR.x: image $IMAGE NOT built; the image test will be SKIPPED"
  exit 0
fi
# npm resolves to <prefix>/lib/node_modules/npm/bin/npm-cli.js.
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
if [ ! -f "$npm_dir/bin/npm-cli.js" ] || [ ! -f "$npm_dir/bin/npx-cli.js" ]; then
  echo "build-node-base-image: cannot find npm's package directory (got $npm_dir)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! command -v tini-static >/dev/null 2>&1; then
  echo 'build-node-base-image: installing tini with apt-get'
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends tini >/dev/null
fi

started=$(date +%s)
work=$(mktemp -d /tmp/redispatch-node-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"

# busybox-static: one static binary, downloaded (not installed on the host) and unpacked.
(cd "$work" && { apt-get download busybox-static >/dev/null 2>&1 || {
  apt-get update -qq && apt-get download busybox-static >/dev/null
}; })
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"

mkdir -p "$root"/{etc,tmp,root,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/node_modules}
# Mirror a merged-/usr host (/lib -> usr/lib, /bin -> usr/bin, ...) so each file is stored once.
for dir in lib lib32 lib64 libx32 bin sbin; do
  if [ -L "/$dir" ] && [[ "$(readlink "/$dir")" != /* ]]; then
    mkdir -p "$root/$(readlink "/$dir")"
    ln -s "$(readlink "/$dir")" "$root/$dir"
  elif [ -d "/$dir" ]; then
    mkdir -p "$root/$dir"
  fi
done
chmod 1777 "$root/tmp"
chmod 700 "$root/root"

cp "$node_bin" "$root/usr/local/bin/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

# `ldd` lines: "libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
# "linux-vdso.so.1 (0x...)" (kernel-provided, no file). Same as .ci/build-redis-image.sh.
libs=$(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
if [ -z "$libs" ]; then
  echo "build-node-base-image: ldd listed no libraries for $node_bin" >&2
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

# Only tini-static: the Dockerfile copies it to /usr/bin/tini itself.
cp "$(readlink -f "$(command -v tini-static)")" "$root/usr/bin/tini-static"

cp "$work/busybox/bin/busybox" "$root/usr/bin/busybox"
for applet in $("$root/usr/bin/busybox" --list); do
  [ -e "$root/usr/bin/$applet" ] || [ -L "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
done
ln -s ../bin/busybox "$root/usr/sbin/nologin"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"

# Smoke-check the root filesystem on the host before importing it (chroot needs root).
# HOME=/tmp: npm may write logs there, and /tmp is emptied again before the import.
if [ "$(id -u)" = 0 ] && ! chroot "$root" /usr/bin/env -i HOME=/tmp PATH=/usr/local/bin:/usr/bin \
  /bin/sh -c 'node -e "" && npm --version' >/dev/null 2>&1; then
  echo "build-node-base-image: node or npm does not run inside the assembled root ($root)" >&2
  exit 1
fi
find "$root/tmp" "$root/root" -mindepth 1 -delete

previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]' \
  --message "node $node_version + npm $("$node_bin" "$npm_dir/bin/npm-cli.js" --version 2>/dev/null) from the host, tini-static, busybox-static; for redispatch image tests" \
  - "$IMAGE" >/dev/null

# A forced rebuild leaves the previous image untagged: drop it unless images built on it still exist.
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi

if ! docker run --rm --network none "$IMAGE" sh -c 'node -e "process.exit(0)" && npm --version && test -x /usr/bin/tini-static' >/dev/null; then
  warn "$IMAGE was built but a container of it does not run node/npm: the image test will fail"
  exit 1
fi
echo "build-node-base-image: built $IMAGE (node $node_version, $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes) in $(($(date +%s) - started)) s"
