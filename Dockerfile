# The vpnshop binary on a small Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p vpnshop-bot

FROM debian:bookworm-slim
# pg_dump and psql for backups, of the same major version as docker-compose's PostgreSQL (a
# pg_dump refuses a newer server), from the PostgreSQL project's own Debian repository.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSo /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update && apt-get install -y --no-install-recommends postgresql-client-16 \
    && apt-get purge -y curl && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/vpnshop /usr/local/bin/vpnshop
WORKDIR /data
# tini as PID 1 forwards `docker stop`'s SIGTERM to vpnshop, which stops taking updates, lets
# the running job finish (run.shutdown_seconds) and gives its jobs back before exiting.
ENTRYPOINT ["tini", "--", "vpnshop"]
CMD ["run"]
