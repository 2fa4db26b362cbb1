# syntax=docker/dockerfile:1
# Tidemark operator image: `docker build -t tidemark:0.1.0 .`
# (or `make image`: podman builds this file unchanged, from a local stand-in for
# node:24-slim where no registry can be reached; sandbox/image.sh). The image is
# run by test/deploy/image.int.test.ts and, as real pods on a real node, by
# `make test-real-node`; test/deploy/dockerfile.test.ts also replays these steps
# in a temporary folder. Keep them in step with this file.

# --- build: full dependencies, TypeScript compiled to dist/ -------------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the npm package `node` (the project's own runtime for
# development) needs no install step here; the image's Node.js 24 runs the code.
# `npm ci` installs exactly what package-lock.json records and fails if it
# disagrees with package.json. It works now that the lock carries every
# platform's optional @biomejs/cli-* entry (npm ci refused a lock that lacked
# them); an image never holds versions the tests did not run against.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY crds ./crds
RUN npm run build

# --- production dependencies only ----------------------------------------------
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

# --- final image: Node.js runtime, production dependencies, compiled output -----
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The CLI and the validator read the CRD's schema at run time.
COPY crds ./crds
# Numeric, so that the kubelet can enforce runAsNonRoot; the image's `node` user.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/tidemark.js", "run"]
