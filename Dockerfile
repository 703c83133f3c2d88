# syntax=docker/dockerfile:1
# LMS container image: molt-lms, molt-lms-orchestrator and molt-lms-cli,
# built with the project's own autotools install.
#
#   docker build -t molt-lms .
#   docker run --rm molt-lms --version
#   docker run --rm -p 9043:9043 -p 9044:9044 -v /etc/molt-lms:/etc/molt-lms:ro \
#       molt-lms --source-dialect postgres --config /etc/molt-lms/config.json
#   docker run --rm -p 4200:4200 -p 4201:4201 -v /etc/molt-lms:/etc/molt-lms:ro \
#       molt-lms molt-lms-orchestrator --config /etc/molt-lms/orchestrator.json
#   docker run --rm molt-lms molt-lms-cli --orchestrator-url https://orch:4200 status
#
# tests/packaging/staged-install.sh --fresh runs the same build and install
# steps (make install DESTDIR=...) and the staged binaries, without Docker.

# ---- build stage
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential autoconf automake libtool libtool-bin pkg-config \
      libevent-dev libssl-dev libjansson-dev libxxhash-dev libpq-dev check \
      libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN ./autogen.sh \
 && ./configure --prefix=/usr \
 && make -j"$(nproc)" \
 && make install DESTDIR=/stage \
 && rm -f /stage/usr/lib/molt-lms/plugins/*.la \
 && /stage/usr/bin/molt-lms --version \
 && /stage/usr/bin/molt-lms-orchestrator --version \
 && /stage/usr/bin/molt-lms-cli --version

# ---- runtime stage: only the runtime libraries (the sonames the binaries and
# plugins need; tests/packaging/staged-install.sh checks this list covers them)
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 \
      libssl3 libjansson4 libxxhash0 libpq5 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 molt-lms \
 && useradd --system --uid 10001 --gid molt-lms --home-dir /nonexistent \
      --no-create-home --shell /usr/sbin/nologin molt-lms \
 && install -d -o root -g molt-lms -m 0750 /etc/molt-lms
# The binaries, the plugins (/usr/lib/molt-lms/plugins, the built-in default
# --plugin-dir), the man page; not the plugin SDK (header, pkg-config file).
COPY --from=build /stage/usr/bin/ /usr/bin/
COPY --from=build /stage/usr/lib/molt-lms/ /usr/lib/molt-lms/
COPY --from=build /stage/usr/share/man/ /usr/share/man/
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# Fails the build when a runtime library is missing.
RUN molt-lms --version && molt-lms-orchestrator --version && molt-lms-cli --version
USER 10001:10001
# The proxy: SQL (source dialect) and metrics/admin API; the orchestrator:
# its API and metrics.
EXPOSE 9043 9044 4200 4201
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["molt-lms", "--help"]
