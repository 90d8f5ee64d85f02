# The vpnshop binary on a small Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p vpnshop-bot

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/vpnshop /usr/local/bin/vpnshop
WORKDIR /data
# tini as PID 1 forwards `docker stop`'s SIGTERM to vpnshop, which stops taking updates, lets
# the running job finish (run.shutdown_seconds) and gives its jobs back before exiting.
ENTRYPOINT ["tini", "--", "vpnshop"]
CMD ["run"]
