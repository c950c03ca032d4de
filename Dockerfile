# One image for the worker and the API (docker-compose.yml and deploy/kubernetes run it with
# different commands). Node 24 LTS: several dependencies require Node >= 22, Node 22 leaves
# maintenance in April 2027 and 24 in April 2028, and 24 ships npm 11 (the project's npm).
#
#   docker build -t token-warden:local .
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

# Build stage: every dependency (dev ones and npm workspaces included) to compile dist/ and the
# prebuilt workflow bundle that production workers load.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm run build

# Runtime stage: production dependencies and the build output, nothing else. Workspace packages
# (development tools such as the Cloudflare simulator) are left out by --workspaces=false, and the
# optional ones by --omit=optional: embedded PostgreSQL (npm start only; production sets
# DATABASE_URL), esbuild's binaries (tsx, npm start only) and pg-cloudflare (Workers only), 80 MB.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --workspaces=false --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workflow-bundle.js ./dist/workflow-bundle.js
COPY migrations ./migrations
# uid 1000 (`node`): the Kubernetes manifests set runAsUser: 1000 to match.
USER node
CMD ["node", "dist/src/worker.js"]
