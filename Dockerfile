# syntax=docker/dockerfile:1
#
# therapy-chat server image.
#   docker build -t therapy-chat .
#   docker run -p 8080:8080 -v therapy-chat-data:/data therapy-chat
#
# Stages: `manifests` keeps only the package.json files and the lock file, so that the `npm ci` layer is rebuilt only
# when dependencies change, not on every source edit; `build` compiles native addons, installs, builds and prunes dev
# dependencies; `runtime` gets the pruned node_modules and the built output only.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
# The root package.json, the lock file and every workspace's package.json (workspaces are one level down), whatever
# workspaces exist at build time.
RUN mkdir /out \
 && cp package.json package-lock.json /out/ \
 && find . -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /out/ \;

FROM ${NODE_IMAGE} AS build
# better-sqlite3 (and msgpackr-extract, where no prebuilt binary fits) build from source with node-gyp.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers that ship with this image's Node.js instead of downloading them.
ENV npm_config_nodedir=/usr/local \
    npm_config_audit=false \
    npm_config_fund=false \
    npm_config_update_notifier=false
WORKDIR /app
COPY --from=manifests /out/ ./
RUN npm ci
COPY . .
# Build, drop dev dependencies, and drop better-sqlite3's sources and intermediate build files (about 25 MB): only
# build/Release/better_sqlite3.node is loaded at run time.
RUN npm run build \
 && npm prune --omit=dev \
 && B=node_modules/better-sqlite3 \
 && test -f "$B/build/Release/better_sqlite3.node" \
 && find "$B/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} + \
 && find "$B/build/Release" -mindepth 1 -maxdepth 1 ! -name better_sqlite3.node -exec rm -rf {} + \
 && rm -rf "$B/deps" "$B/src"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
# Owned by root and read-only for the `node` user; only /data is writable.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/protocol/package.json ./protocol/
COPY --from=build /app/protocol/dist ./protocol/dist
COPY --from=build /app/server/package.json ./server/
COPY --from=build /app/server/dist ./server/dist
# Created and chowned before VOLUME, so that a new named volume starts out owned by `node`.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 8080
STOPSIGNAL SIGTERM
# No curl in the slim image: Node's own fetch. Follows PORT if it is overridden at run time.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# V8 flags: server/src/cli/node-flags.ts says why (a docs test keeps them equal).
CMD ["node", "--max-semi-space-size=64", "server/dist/cli/start.js"]
