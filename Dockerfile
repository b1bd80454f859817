# syntax=docker/dockerfile:1
# inference-proxy: build with `docker build -t inference-proxy .`, run with
#   docker run --rm -p 8001:8001 -e INFERENCE_PROXY_BACKEND_URL=http://gpu1:8000,http://gpu2:8000 inference-proxy
# Every flag is also an INFERENCE_PROXY_* variable (README, "Configuration"); arguments after the image
# name replace CMD, so pass flags as `node dist/src/main.js --workers 4 ...` or prefer the variables.

# Node 24, the active LTS (Node 20 reached its end of life in April 2026), one of the two Nodes CI runs
# the whole suite on (.ci/run); why, in the README's "Which Node".
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- builder: dev dependencies (TypeScript) and the compiled dist/
FROM ${NODE_IMAGE} AS builder
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script runs tsc, and the sources are not copied yet (this layer stays
# cached while only the sources change); the build is the explicit step below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and dist/src only
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: it forwards SIGTERM/SIGINT/SIGHUP to the proxy's primary process (which drains the
# workers; SIGHUP is the rolling restart) and reaps any orphaned process. Without it, run with
# `docker run --init`.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force
# dist/src/shared/version.js reads /app/package.json, copied above.
COPY --from=builder /app/dist/src ./dist/src
# Files stay owned by root and read-only for the proxy; it writes nothing to disk (logs go to stdout).
USER node
ENV INFERENCE_PROXY_HOST=0.0.0.0 \
    INFERENCE_PROXY_PORT=8001
# 8001: proxied traffic, /metrics, /healthz and /livez. 9464: the conventional port for --metrics-port
# (INFERENCE_PROXY_METRICS_PORT=9464 INFERENCE_PROXY_METRICS_HOST=0.0.0.0), off unless set.
EXPOSE 8001 9464
# No curl in the slim image: node itself GETs /livez on the configured port, 200 whenever the proxy
# answers. Not /healthz: that one is 503 while no backend is up (so that a load balancer picks another
# proxy), and an unhealthy container gets replaced (Docker Swarm) or restarted (autoheal and the like):
# a GPU server going down would restart a proxy that is fine. Point load balancers at /healthz instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const port = process.env.INFERENCE_PROXY_PORT || 8001; require('node:http').get({ host: '127.0.0.1', port, path: '/livez', timeout: 3000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('timeout', () => process.exit(1)).on('error', () => process.exit(1));"]
# The proxy drains on SIGTERM for --drain-timeout (30 s by default): give `docker stop` a longer -t
# (e.g. `docker stop -t 45`) or in-flight streams are cut at Docker's default 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
