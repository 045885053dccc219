# One image for every role:
#   docker run IMAGE dispatcher
#   docker run IMAGE worker --handler /app/handlers/handler.js
#   docker run IMAGE relay
# Configuration comes only from REDISPATCH_* environment variables (see deploy/README.md).
#
# PID 1 is tini (static build), which runs node as its child:
#   - it forwards SIGTERM/SIGINT to node, whose own handlers drain a worker / release a leader's
#     lease; if a handler were ever missing, node would still die of the default action instead of
#     ignoring the signal, which is what the kernel does for a PID 1 without a handler;
#   - it reaps zombies, should a handler module ever spawn child processes.
# `docker run --init` is not needed (and harmless). Kubernetes sends SIGTERM to PID 1 = tini.
#
# Runs as UID/GID 10001 and writes nothing outside /tmp, so it works with a read-only root
# filesystem (mount an emptyDir at /tmp in Kubernetes).
#
# BASE_IMAGE: any Node 20 image with a POSIX shell; tini comes from it when it ships
# /usr/bin/tini-static, otherwise from apt-get (Debian). CI builds on redispatch/node-base:20
# (.ci/build-node-base-image.sh: host node + npm + busybox + tini, no registry needed).
#
# BUILD_EXTRA_CA_PEM (build stages only): PEM certificates npm trusts in addition to Node's built-in
# roots, for a registry reached through a TLS-intercepting proxy; verification stays on. Handed to
# npm via NODE_EXTRA_CA_CERTS in a file that lives for one RUN; the runtime stage never declares it,
# so it is neither in the shipped image's layers nor in its history. deploy/docker/build-image.sh
# sets it from the host's trust store.

ARG BASE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, compile TypeScript, copy the Lua scripts beside the JS ----------
FROM ${BASE_IMAGE} AS build
ARG BUILD_EXTRA_CA_PEM=""
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
# tini-static has no library dependencies, so it can be copied into the runtime stage as is.
RUN [ -x /usr/bin/tini-static ] || { \
      apt-get update \
      && apt-get install -y --no-install-recommends tini \
      && rm -rf /var/lib/apt/lists/*; \
    }
COPY package.json package-lock.json .npmrc ./
COPY shared/package.json shared/
# The dev-only test harness workspace: its manifest keeps the lock file valid; it is not shipped.
COPY shared/testing/package.json shared/testing/
COPY worker/package.json worker/
COPY dispatcher/package.json dispatcher/
COPY dispatcher/bin dispatcher/bin
# `npm ci` refuses a lock file without entries for some platform-specific optional packages
# (@biomejs/cli-*, @rollup/rollup-*: registry mirrors that lack them leave no lock entries); fall
# back to `npm install`, which keeps every locked version it can resolve. Same as .ci/run.
RUN if [ -n "$BUILD_EXTRA_CA_PEM" ]; then \
      printf '%s\n' "$BUILD_EXTRA_CA_PEM" >/tmp/build-extra-ca.pem \
      && export NODE_EXTRA_CA_CERTS=/tmp/build-extra-ca.pem; \
    fi \
 && { npm ci --ignore-scripts || npm install --ignore-scripts; } \
 && rm -f /tmp/build-extra-ca.pem
COPY tsconfig.base.json tsconfig.json ./
COPY scripts scripts
COPY shared shared
COPY worker worker
COPY dispatcher dispatcher
RUN npm run build \
 # Type declarations are not needed at run time (the test harness, shared/testing/dist, is never copied).
 && find shared/dist worker/dist dispatcher/dist \( -name '*.d.ts' -o -name '*.d.ts.map' -o -name '*.tsbuildinfo' \) -exec rm -f {} + \
 && test -n "$(find shared/dist/redis/lua -name '*.lua' -print -quit)" \
 && test -f dispatcher/dist/cli/main.js

# ---- deps: production dependencies only (workspace packages are symlinks into /app) -----------
FROM ${BASE_IMAGE} AS deps
ARG BUILD_EXTRA_CA_PEM=""
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json .npmrc ./
COPY shared/package.json shared/
# The dev-only test harness workspace: its manifest keeps the lock file valid; it is not shipped.
COPY shared/testing/package.json shared/testing/
COPY worker/package.json worker/
COPY dispatcher/package.json dispatcher/
COPY dispatcher/bin dispatcher/bin
# --omit=dev drops the root devDependencies (typescript, vitest, testcontainers, ...) for every
# workspace; --ignore-scripts because no production dependency needs an install script.
RUN if [ -n "$BUILD_EXTRA_CA_PEM" ]; then \
      printf '%s\n' "$BUILD_EXTRA_CA_PEM" >/tmp/build-extra-ca.pem \
      && export NODE_EXTRA_CA_CERTS=/tmp/build-extra-ca.pem; \
    fi \
 && { npm ci --omit=dev --ignore-scripts || npm install --omit=dev --ignore-scripts; } \
 && rm -f /tmp/build-extra-ca.pem \
 && npm cache clean --force \
 && rm -rf /root/.npm

# ---- runtime --------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG UID=10001
ARG GID=10001
# A passwd entry, so os.userInfo() and friends work; no home directory, no login shell. Written
# directly rather than with groupadd/useradd, which minimal bases (busybox) do not have.
RUN echo "redispatch:x:${GID}:" >>/etc/group \
 && echo "redispatch:x:${UID}:${GID}:redispatch:/nonexistent:/usr/sbin/nologin" >>/etc/passwd \
 # npm and corepack are not used at run time: less to patch, less to scan.
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg
COPY --from=build /usr/bin/tini-static /usr/bin/tini
WORKDIR /app
COPY --from=deps /app ./
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/worker/dist worker/dist
COPY --from=build /app/dispatcher/dist dispatcher/dist
# Handler modules for `redispatch worker --handler` go here (derived image or a volume).
RUN mkdir -p /app/handlers
ENV NODE_ENV=production \
    HOME=/tmp \
    REDISPATCH_METRICS_PORT=9477 \
    REDISPATCH_METRICS_HOST=0.0.0.0
USER ${UID}:${GID}
EXPOSE 9477
# Docker / Compose only; Kubernetes uses the probes in deploy/.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.REDISPATCH_METRICS_PORT||9477)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dispatcher/bin/redispatch.js"]
CMD ["--help"]
