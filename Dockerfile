# outbox-relay container image: `docker build -t outbox-relay .`
# The entry point is bin/outbox-relay, the same one the tests run; the default command is `run`
# (`docker run … outbox-relay migrate` for the schema). Settings come from the environment
# (README.md "Configuration"); /metrics, /healthz and /readyz listen on OUTBOX_HTTP_ADDR (:9464).

# ---- build: compile TypeScript (npm ci runs the `prepare` script, which builds dist/)
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund

# ---- deps: production dependencies only. --ignore-scripts: `prepare` (the build) must not run
# here, and no production dependency needs an install script.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY sql ./sql
# The image's unprivileged user (uid 1000); the relay needs no file system writes.
USER node
EXPOSE 9464
# The relay stops gracefully on SIGTERM within OUTBOX_SHUTDOWN_TIMEOUT_MS (default 10 s): give
# `docker stop` a longer timeout than that (docker-compose.yml: stop_grace_period).
STOPSIGNAL SIGTERM
# No curl in the slim image: Node's fetch. The port follows OUTBOX_HTTP_ADDR ("host:port" or ":port").
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p=(process.env.OUTBOX_HTTP_ADDR||':9464').split(':').pop();fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/app/bin/outbox-relay"]
CMD ["run"]
