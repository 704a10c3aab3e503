#!/usr/bin/env bash
# The official Temporal server (go.temporal.io/server v1.29.1, the version the Temporal CLI v1.5.1 embeds, so it
# builds with the same Go and module cache) on PostgreSQL 15 from Debian, for one test run, on free ports:
#
#   scripts/temporal-postgres.sh start <dir>   # prints FUNNELCAST_TEST_TEMPORAL_ADDRESS=127.0.0.1:<port>
#   scripts/temporal-postgres.sh stop <dir>    # stops the server and PostgreSQL, removes nothing else
#
# Binaries: TEMPORAL_SERVER (else .tools/bin/server), TEMPORAL_SQL_TOOL (else .tools/bin/sql), TEMPORAL_CLI (else
# .tools/bin/temporal), PG_BIN (else /usr/lib/postgresql/15/bin); .ci/run builds the first two with go install.
# The schema comes from the server's module: TEMPORAL_SCHEMA_DIR (else <GOMODCACHE>/go.temporal.io/server@v1.29.1/
# schema/postgresql/v12). PostgreSQL refuses to run as root: as root it runs as the `postgres` user.
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a folder for the database, the config and the logs}
root=$(cd "$(dirname "$0")/.." && pwd)
server=${TEMPORAL_SERVER:-$root/.tools/bin/server}
sqltool=${TEMPORAL_SQL_TOOL:-$root/.tools/bin/sql}
cli=${TEMPORAL_CLI:-$root/.tools/bin/temporal}
pgbin=${PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "$cmd" = stop ]; then
  [ -f "$dir/server.pid" ] && kill "$(cat "$dir/server.pid")" 2>/dev/null || true
  for _ in $(seq 1 50); do [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || break; sleep 0.2; done
  [ -d "$dir/pg" ] && as_pg "$pgbin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
  exit 0
fi

schema=${TEMPORAL_SCHEMA_DIR:-$(go env GOMODCACHE)/go.temporal.io/server@v1.29.1/schema/postgresql/v12}
for f in "$server" "$sqltool" "$cli" "$pgbin/initdb"; do
  [ -x "$f" ] || { echo "temporal-postgres: $f is missing (see the header of $0)" >&2; exit 2; }
done
[ -d "$schema/temporal/versioned" ] || { echo "temporal-postgres: no schema at $schema" >&2; exit 2; }
mkdir -p "$dir/config" && chmod 755 "$dir"
read -r pg fe fem feh ma mam hi him wo wom < <(node -e '
  const net = require("node:net");
  // Below 32768: the server stores its membership ports in a smallint column.
  const one = () => new Promise((r) => { const p = 20000 + Math.floor(Math.random() * 12000); const s = net.createServer();
    s.once("error", () => r(0)); s.listen(p, "127.0.0.1", () => s.close(() => r(p))); });
  (async () => { const ps = new Set(); while (ps.size < 10) { const p = await one(); if (p) ps.add(p); } console.log([...ps].join(" ")); })();')

# PostgreSQL: a fresh cluster in the test's folder, trust auth on 127.0.0.1 only.
mkdir -p "$dir/pg" && [ "$(id -u)" = 0 ] && chown postgres "$dir/pg"
as_pg "$pgbin/initdb" -D "$dir/pg" -U postgres --auth=trust >"$dir/initdb.log" 2>&1
as_pg "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg/postgres.log" -w \
  -o "-p $pg -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c fsync=off" start >/dev/null
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*} sub=${db##*:}
  sql=("$sqltool" --plugin postgres12 --ep 127.0.0.1 -p "$pg" -u postgres --db "$name")
  "${sql[@]}" create-database >>"$dir/schema.log" 2>&1
  "${sql[@]}" setup-schema -v 0.0 >>"$dir/schema.log" 2>&1
  "${sql[@]}" update-schema -d "$schema/$sub/versioned" >>"$dir/schema.log" 2>&1
done

sed -e "s|@PG_PORT@|$pg|g; s|@FRONTEND_PORT@|$fe|g; s|@FRONTEND_MEMBER_PORT@|$fem|g; s|@FRONTEND_HTTP_PORT@|$feh|g" \
  -e "s|@MATCHING_PORT@|$ma|g; s|@MATCHING_MEMBER_PORT@|$mam|g; s|@HISTORY_PORT@|$hi|g; s|@HISTORY_MEMBER_PORT@|$him|g" \
  -e "s|@WORKER_PORT@|$wo|g; s|@WORKER_MEMBER_PORT@|$wom|g; s|@DIR@|$dir|g" \
  "$root/infra/temporal-postgres/development.yaml.template" >"$dir/config/development.yaml"
cp "$root/infra/temporal-postgres/dynamic.yaml" "$dir/config/dynamic.yaml"
"$server" --root "$dir" --config config --env development --allow-no-auth start >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"

# The official server creates no namespace: `default` is created once the frontend answers.
for i in $(seq 1 120); do
  if "$cli" operator namespace create --namespace default --retention 1d --address "127.0.0.1:$fe" >/dev/null 2>&1 ||
    "$cli" operator namespace describe --namespace default --address "127.0.0.1:$fe" >/dev/null 2>&1; then
    echo "FUNNELCAST_TEST_TEMPORAL_ADDRESS=127.0.0.1:$fe"
    exit 0
  fi
  kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || { echo "temporal-postgres: the server exited:" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
  sleep 1
done
echo "temporal-postgres: no frontend on 127.0.0.1:$fe after 120 s" >&2
tail -20 "$dir/server.log" >&2
exit 1
