# shellcheck shell=bash
# Shared by deploy/dev/run and deploy/dev/test: make sure PostgreSQL and RabbitMQ are
# reachable, starting local ones that are installed but stopped and, on Debian/Ubuntu,
# installing them (packages `postgresql` and `rabbitmq-server`) when they are missing;
# then create the database, and the RabbitMQ vhost named in AMQP_URL. Honours
# DATABASE_URL and AMQP_URL.

set -euo pipefail

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/incident}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

# host and port of a URL like scheme://user:pass@host:port/path
url_host() { local u="${1#*://}"; u="${u#*@}"; u="${u%%/*}"; echo "${u%%:*}"; }
url_port() { local u="${1#*://}"; u="${u#*@}"; u="${u%%/*}"; [[ "$u" == *:* ]] && echo "${u##*:}" || echo "$2"; }
# the database name of a Postgres URL, and the same URL pointing at the `postgres` database
url_db() { local u="${1%%\?*}"; echo "${u##*/}"; }
admin_url() { local u="${1%%\?*}"; echo "${u%/*}/postgres"; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  local host=$1 port=$2 what=$3 tries=${4:-60}
  for _ in $(seq "$tries"); do
    port_open "$host" "$port" && return 0
    sleep 1
  done
  die "$what did not come up on $host:$port"
}

is_local() { [[ "$1" == 127.0.0.1 || "$1" == localhost || "$1" == ::1 ]]; }

can_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }

apt_install() {
  say "installing $* from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  local host port
  host=$(url_host "$DATABASE_URL"); port=$(url_port "$DATABASE_URL" 5432)
  if ! port_open "$host" "$port"; then
    is_local "$host" || die "PostgreSQL at $host:$port is not reachable (DATABASE_URL)"
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      can_apt || die "PostgreSQL is not installed: install the Debian package 'postgresql' (or point DATABASE_URL at a server)"
      apt_install postgresql
    fi
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || die "no PostgreSQL cluster found under /etc/postgresql"
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_port "$host" "$port" PostgreSQL
  fi
  command -v psql >/dev/null 2>&1 || { can_apt && apt_install postgresql-client; } || die "psql is missing: install the Debian package 'postgresql-client'"
  if ! psql "$(admin_url "$DATABASE_URL")" -Atqc 'SELECT 1' >/dev/null 2>&1; then
    # A fresh Debian install authenticates TCP logins by password: give the local
    # `postgres` role the password `postgres` (development machines only).
    if is_local "$host" && [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1 && [[ "$DATABASE_URL" == postgres://postgres@* ]]; then
      say "setting a development password for the local postgres role"
      runuser -u postgres -- psql -Atqc "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null
      export DATABASE_URL="postgres://postgres:postgres@${DATABASE_URL#postgres://postgres@}"
    fi
    psql "$(admin_url "$DATABASE_URL")" -Atqc 'SELECT 1' >/dev/null \
      || die "cannot log in to PostgreSQL with DATABASE_URL=$DATABASE_URL"
  fi
  local db
  db=$(url_db "$DATABASE_URL")
  if [ "$(psql "$(admin_url "$DATABASE_URL")" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    say "creating database $db"
    psql "$(admin_url "$DATABASE_URL")" -Atqc "CREATE DATABASE \"$db\"" >/dev/null
  fi
}

ensure_rabbitmq() {
  local host port
  host=$(url_host "$AMQP_URL"); port=$(url_port "$AMQP_URL" 5672)
  if ! port_open "$host" "$port"; then
    is_local "$host" || die "RabbitMQ at $host:$port is not reachable (AMQP_URL)"
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
      can_apt || die "RabbitMQ is not installed: install the Debian package 'rabbitmq-server' (or point AMQP_URL at a broker)"
      apt_install rabbitmq-server
    fi
    say "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_port "$host" "$port" RabbitMQ 90
  fi
  ensure_vhost
}

# The vhost of an AMQP URL, percent-decoded: amqp://u:p@host:5672/incident -> incident;
# an empty path or %2f -> /.
url_vhost() {
  local u="${1#*://}" v
  u="${u%%\?*}"
  [[ "$u" == */* ]] && v="${u#*/}" || v=""
  [ -n "$v" ] || { echo /; return; }
  printf '%b\n' "${v//%/\\x}"
}
# The user of an AMQP URL (RabbitMQ's default, guest, when none is given).
url_user() { local u="${1#*://}"; u="${u%%/*}"; [[ "$u" == *@* ]] && { u="${u%%@*}"; echo "${u%%:*}"; } || echo guest; }

# A broker answers every connection to a vhost that does not exist with an error, so a
# service would log errors until someone creates it: create it (and give the URL's user
# every permission in it) when rabbitmqctl can reach the local node; say what to create
# otherwise.
ensure_vhost() {
  local vhost user host
  vhost=$(url_vhost "$AMQP_URL"); user=$(url_user "$AMQP_URL"); host=$(url_host "$AMQP_URL")
  [ "$vhost" = / ] && return 0
  if is_local "$host" && command -v rabbitmqctl >/dev/null 2>&1 && rabbitmqctl -q list_vhosts name >/tmp/incident-vhosts.$$ 2>/dev/null; then
    if ! grep -qxF -- "$vhost" /tmp/incident-vhosts.$$; then
      say "creating the RabbitMQ vhost $vhost (AMQP_URL) for user $user"
      rabbitmqctl -q add_vhost "$vhost" >/dev/null
      rabbitmqctl -q set_permissions -p "$vhost" "$user" '.*' '.*' '.*' >/dev/null \
        || say "could not grant $user permissions on $vhost: rabbitmqctl set_permissions -p '$vhost' '$user' '.*' '.*' '.*'"
    fi
    rm -f /tmp/incident-vhosts.$$
  else
    rm -f /tmp/incident-vhosts.$$
    say "cannot check the RabbitMQ vhost '$vhost' (AMQP_URL) here; if it does not exist, create it on the broker:"
    say "  rabbitmqctl add_vhost '$vhost' && rabbitmqctl set_permissions -p '$vhost' '$user' '.*' '.*' '.*'"
  fi
}

# Cargo's output directory: CARGO_TARGET_DIR, build.target-dir in a cargo config, or ./target.
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p' | grep . || echo "${CARGO_TARGET_DIR:-target}"
}

ensure_cargo() {
  command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust 1.94 or newer (rustup, or Debian's 'cargo' if recent enough)"
}
