# gatemesh container image.
# node:20-bookworm-slim: glibc 2.36, where the uWebSockets.js native addon (Node 20 ABI 115) loads.

# --- build: compile TypeScript with the dev dependencies -------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY native-free ./native-free
COPY test ./test
COPY bench ./bench
RUN npx tsc -p . && rm -rf dist/test dist/bench

# --- runtime: production dependencies and the compiled output only -------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    GATEMESH_ADMIN_ADDR=0.0.0.0:9901
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY examples ./examples
USER node
EXPOSE 8080 9901
# /ready answers 200 once every listener is bound (and 503 while draining).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:9901/ready', r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/gatemesh.js"]
