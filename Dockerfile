# Guichet in a container (docs/operations.md): built in a Rust image, run
# from debian:12-slim as the unprivileged user guichet, its state in the
# volume /var/lib/guichet, healthy when /readyz says so.
#   docker build -t guichet .            or   docker compose up -d --build
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/guichet

FROM debian:12-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates curl \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --uid 10001 --user-group --home-dir /var/lib/guichet \
		--shell /usr/sbin/nologin guichet \
	&& install -d -o guichet -g guichet -m 0750 /var/lib/guichet
COPY --from=build /src/target/release/guichet /usr/bin/guichet
COPY deploy/debian/guichet.toml /etc/guichet/guichet.toml
# Inside its own network namespace the listener must face the container's
# interface; publish it on the host's loopback only (compose.yaml does).
ENV GUICHET__HTTP__LISTEN=0.0.0.0:9187
USER guichet
WORKDIR /var/lib/guichet
VOLUME ["/var/lib/guichet"]
EXPOSE 9187
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
	CMD curl -fsS http://127.0.0.1:9187/readyz >/dev/null || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/guichet", "--config", "/etc/guichet/guichet.toml"]
CMD ["run"]
