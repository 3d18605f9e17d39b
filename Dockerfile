# OpenCall: one image, signaling + SFU. Build: docker build -t opencall .   (or docker-compose build)
# Run:   docker run --init -p 4000:4000 -p 40000-40001:40000-40001/udp -p 40000-40001:40000-40001/tcp \
#          -e ANNOUNCED_IP=<public ip> -e MEDIASOUP_NUM_WORKERS=2 opencall
# One RTC port per media worker (RTC_PORT + index), published under the same number: the published
# range must hold exactly MEDIASOUP_NUM_WORKERS ports.

FROM node:24-bookworm-slim AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
# mediasoup's postinstall downloads its prebuilt worker. For an offline (air-gapped) build, put a
# worker binary at docker/mediasoup-worker in the build context: it is used instead of the download.
# (.dockerignore keeps docker/README.md out, so editing it does not invalidate the npm ci layer.)
COPY package.json package-lock.json ./
COPY docker/ ./docker/
RUN if [ -x docker/mediasoup-worker ]; then export MEDIASOUP_WORKER_BIN=/app/docker/mediasoup-worker; fi \
  && npm ci --no-audit --no-fund
COPY tsconfig*.json ./
COPY config ./config
COPY workers ./workers
COPY scripts ./scripts
COPY src ./src
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && if [ -x docker/mediasoup-worker ]; then \
       mkdir -p node_modules/mediasoup/worker/out/Release \
       && cp docker/mediasoup-worker node_modules/mediasoup/worker/out/Release/mediasoup-worker; \
     fi

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=4000 \
    HOST=0.0.0.0 \
    RTC_PORT=40000
WORKDIR /app
# Recording (POST /api/rooms/:id/recordings) runs ffmpeg: build with --build-arg WITH_FFMPEG=1 to
# include Debian's (about 250 MB more); without it a recording request is RECORDING_UNAVAILABLE.
ARG WITH_FFMPEG=0
RUN if [ "$WITH_FFMPEG" = 1 ]; then \
      apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*; \
    fi
RUN groupadd --system opencall && useradd --system --gid opencall --home-dir /app opencall \
  && mkdir -p /app/recordings && chown opencall:opencall /app/recordings
COPY --from=build --chown=opencall:opencall /app/package.json ./
COPY --from=build --chown=opencall:opencall /app/config ./config
COPY --from=build --chown=opencall:opencall /app/node_modules ./node_modules
COPY --from=build --chown=opencall:opencall /app/dist ./dist
USER opencall
# Signaling (HTTP + WebSocket), and one RTC port per media worker (UDP and TCP): RTC_PORT + index.
EXPOSE 4000/tcp 40000-40001/udp 40000-40001/tcp
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--max-semi-space-size=16", "--expose-gc", "dist/src/main.js"]
