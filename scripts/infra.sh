#!/usr/bin/env bash
# Local message bus + cache for development and CI: RabbitMQ (AMQP) and Redis,
# both from Debian packages, bound to 127.0.0.1 only. No Docker needed.
#
#   scripts/infra.sh up [--secure]
#                             install if missing, start what is not answering, wait until ready; --secure then runs
#                             `users` (per-service users, guest deleted, Redis's default user off)
#   scripts/infra.sh tls up [--secure]|down|status
#                             like up / down / status, and the servers `up` starts also listen with TLS on
#                             RABBITMQ_TLS_PORT (AMQPS) and REDIS_TLS_PORT, next to their plain ports, with a
#                             certificate of a private CA made with openssl in INFRA_TLS_DIR (kept on reruns);
#                             prints the services' TLS settings and writes them to INFRA_TLS_DIR/tls-<rabbit>-<redis>.env
#   scripts/infra.sh status   print each server's state; exit 0 only if both answer
#   scripts/infra.sh down     stop the servers on the configured ports, but only those `up` started
#                             (pre-existing servers are left alone)
#   scripts/infra.sh restart rabbitmq|redis
#                             stop one server `up` started (RabbitMQ: rabbitmqctl stop; Redis: SHUTDOWN, which
#                             flushes the AOF), wait INFRA_DOWN_SECONDS, start it again on the same data, wait until
#                             ready (the fault injection of `rlhf chaos`)
#   scripts/infra.sh queues   print "<queue>\t<messages>" for every queue of the RabbitMQ node on RABBITMQ_PORT
#   scripts/infra.sh users    least privilege on the RabbitMQ node and Redis this script started on RABBITMQ_PORT /
#                             REDIS_PORT (opt-in; see "Per-service users" in README.md): one RabbitMQ user per
#                             service (rlhf-generation, -feedback, -reward, -learner, -dashboard) whose configure /
#                             write / read regexes cover only its own queues and the event exchanges it publishes,
#                             an operator user rlhf-ops (everything), guest deleted; Redis ACL users of the same names
#                             limited to keys under INFRA_REDIS_PREFIX, no @dangerous commands, the default user off.
#                             Passwords (new ones from openssl, kept on reruns) and one env file per service
#                             (Bus__RabbitMq__Username/Password, Redis__Configuration) go to .infra/users-<rabbit>-<redis>/;
#                             the archive stream's own user rlhf-archive (Archive__Username/Password) goes to
#                             dashboard.env and archive.env. On servers started with TLS the env files name the TLS ports.
#                             Refuses servers this checkout's infra.sh did not start unless INFRA_USERS_ANY=1.
#   scripts/infra.sh cluster up|down|status|stop-node N|kill-node N|start-node N|partition-node N|heal-node N
#                             a 3-node RabbitMQ cluster on RABBITMQ_CLUSTER_PORTS (default 5692 5693 5694): the
#                             nodes start like `up` starts one, then nodes 2 and 3 join node 1 (quorum queues are
#                             replicated across all three); stop-node / kill-node (SIGKILL of its Erlang VM) /
#                             start-node N act on node N (1-3) for fault injection; partition-node N cuts node N's
#                             links to the other nodes (wrong Erlang cookies, no iptables needed; N pauses under
#                             pause_minority), heal-node N restores them
#
# Environment:
#   RABBITMQ_PORT        AMQP port (default 5672)
#   REDIS_PORT           Redis port (default 6379)
#   RABBITMQ_MANAGEMENT  1 = enable rabbitmq_management on 127.0.0.1:(15672 + RABBITMQ_PORT - 5672)
#                        for nodes started by this script (default 0; read at node start)
#   INFRA_TIMEOUT        seconds to wait for a server to become ready (default 90)
#   INFRA_FRESH          1 = a server this script starts begins with empty data (its Mnesia / AOF under .infra/
#                        are deleted first); servers already running are left as they are (default 0)
#   INFRA_DOWN_SECONDS   how long `restart` leaves the server stopped (default 3)
#   RABBITMQ_CLUSTER_PORTS  AMQP ports of the cluster's nodes (default "5692 5693 5694")
#   INFRA_REDIS_PREFIX   `users`: the Redis key prefix the services use (their Redis:KeyPrefix; default rlhf:)
#   INFRA_USERS_ANY      `users`: 1 = also act on servers this script did not start (default 0)
#   INFRA_ARCHIVE_QUEUE  `users`: the archive stream's queue (the services' Archive:QueueName; default rlhf-archive)
#   INFRA_TLS            1 = servers `up` starts also get TLS listeners (what `tls up` sets; default 0)
#   RABBITMQ_TLS_PORT    AMQPS port of a node started with TLS (default RABBITMQ_PORT - 1, i.e. 5671)
#   REDIS_TLS_PORT       TLS port of a Redis started with TLS (default REDIS_PORT + 1, i.e. 6380)
#   INFRA_TLS_DIR        where the CA, server and client certificates and keys are made (default .infra/tls)
#
# What this script started is recorded under .infra/ at the repo root (git-ignored):
#   .infra/rabbitmq-<port>.started   node name + pid file of a RabbitMQ node we started
#   .infra/redis-<port>.started      pid file of a Redis server we started
#   .infra/rabbitmq-<port>/          that node's config, Mnesia data and logs (owned by user rabbitmq)
#   .infra/redis-<port>/             that server's AOF data and log
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.infra"
RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
REDIS_PORT="${REDIS_PORT:-6379}"
RABBITMQ_MANAGEMENT="${RABBITMQ_MANAGEMENT:-0}"
INFRA_TIMEOUT="${INFRA_TIMEOUT:-90}"
INFRA_FRESH="${INFRA_FRESH:-0}"
INFRA_DOWN_SECONDS="${INFRA_DOWN_SECONDS:-3}"
INFRA_REDIS_PREFIX="${INFRA_REDIS_PREFIX:-rlhf:}"
INFRA_USERS_ANY="${INFRA_USERS_ANY:-0}"
RABBITMQ_CLUSTER_PORTS="${RABBITMQ_CLUSTER_PORTS:-5692 5693 5694}"
INFRA_ARCHIVE_QUEUE="${INFRA_ARCHIVE_QUEUE:-rlhf-archive}"
INFRA_TLS="${INFRA_TLS:-0}"
RABBITMQ_TLS_PORT="${RABBITMQ_TLS_PORT:-$((RABBITMQ_PORT - 1))}"
REDIS_TLS_PORT="${REDIS_TLS_PORT:-$((REDIS_PORT + 1))}"
INFRA_TLS_DIR="${INFRA_TLS_DIR:-$STATE/tls}"

log() { echo "infra: $*" >&2; }
die() { echo "infra: ERROR: $*" >&2; exit 1; }

# Meant to run as root (CI); as another user it uses sudo where available.
SUDO="" SUDO_E=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; SUDO_E="sudo -E"; fi

# ---------------------------------------------------------------- probes ---
# Both probes speak the wire protocol over bash's /dev/tcp, so they work before the
# client tools are installed and do not depend on node names of pre-existing servers.

# RabbitMQ answers the AMQP 0-9-1 protocol header with a connection.start method frame
# (frame type 1), which it only does once the broker has fully booted.
rabbit_answers() {
  local port="${1:-$RABBITMQ_PORT}"
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "AMQP\x00\x00\x09\x01" >&3
    b=$(head -c 1 <&3 | od -An -tu1 | tr -d " ")
    [ "$b" = "1" ]' _ "$port" 2>/dev/null
}

redis_answers() {
  local port="${1:-$REDIS_PORT}"
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r line <&3
    line="${line%$'"'"'\r'"'"'}"
    # After `users` the default user is off: an answer that asks for authentication is a server that is up.
    [ "$line" = "+PONG" ] || [ "${line#-NOAUTH}" != "$line" ]' _ "$port" 2>/dev/null
}

port_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# ----------------------------------------------------------------- install ---
install_packages() {
  local need=0
  command -v rabbitmq-server >/dev/null 2>&1 || need=1
  command -v rabbitmqctl >/dev/null 2>&1 || need=1
  command -v redis-server >/dev/null 2>&1 || need=1
  command -v redis-cli >/dev/null 2>&1 || need=1
  [ "$need" -eq 1 ] || return 0

  log "installing rabbitmq-server and redis-server from apt (first run on this machine)..."
  # Keep the packages' maintainer scripts from starting the services themselves
  # (without systemd they would try SysV init scripts); this script starts them.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    added_policy=1
  fi
  local rc=0
  {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      --no-install-recommends rabbitmq-server redis-server redis-tools
  } >"$STATE/apt.log" 2>&1 || rc=$?
  if [ "$added_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$STATE/apt.log" >&2 || true
    die "apt-get failed (exit $rc); full log: $STATE/apt.log"
  fi
  log "packages installed (log: $STATE/apt.log)"
}

# ---------------------------------------------------------------- rabbitmq ---
rabbit_node() {
  if [ "$1" = "5672" ]; then echo "rabbit@localhost"; else echo "rabbit$1@localhost"; fi
}

# Runs a command as the rabbitmq user (the Debian wrappers in /usr/sbin do this for
# the server and CLI tools themselves; this is for our own file checks).
as_rabbitmq() {
  if [ "$(id -un)" = "rabbitmq" ]; then sh -c "$1"; else $SUDO su rabbitmq -s /bin/sh -c "$1"; fi
}

rabbit_dir_for() {
  local port="$1" dir="$STATE/rabbitmq-$1"
  $SUDO mkdir -p "$dir"
  $SUDO chown -R rabbitmq:rabbitmq "$dir"
  if as_rabbitmq "test -w '$dir'" 2>/dev/null; then
    echo "$dir"
  else
    # The repo is not reachable for user rabbitmq (e.g. under /root): keep data in its home.
    dir="/var/lib/rabbitmq/rlhf-infra-$port"
    $SUDO mkdir -p "$dir"
    $SUDO chown -R rabbitmq:rabbitmq "$dir"
    echo "$dir"
  fi
}

rabbit_env() {
  # Exported for the Debian wrapper, which re-executes the real script via `su rabbitmq`
  # (su keeps the environment apart from HOME/SHELL/USER/LOGNAME).
  local port="$1" dir="$2"
  export RABBITMQ_NODENAME; RABBITMQ_NODENAME="$(rabbit_node "$port")"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT=$((port + 20000))
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/rabbit.pid"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

rabbit_up() {
  local port="$RABBITMQ_PORT" url="amqp://guest:guest@localhost:$RABBITMQ_PORT/"
  local marker="$STATE/rabbitmq-$port.started"
  if rabbit_answers "$port"; then
    if [ "$INFRA_TLS" = "1" ] && ! port_open "$RABBITMQ_TLS_PORT"; then
      die "RabbitMQ on port $port runs without a TLS listener on $RABBITMQ_TLS_PORT; stop it ('down', if infra.sh started it) and run 'tls up'"
    fi
    if [ -f "$marker" ]; then
      echo "rabbitmq: up (already running, started by infra.sh) $url"
    else
      echo "rabbitmq: up (already running) $url"
    fi
    return 0
  fi
  if port_open "$port"; then
    die "port $port is open but does not answer AMQP 0-9-1; refusing to start RabbitMQ there"
  fi
  if [ "$INFRA_TLS" = "1" ]; then
    port_open "$RABBITMQ_TLS_PORT" && die "the TLS port $RABBITMQ_TLS_PORT for RabbitMQ is taken (RABBITMQ_TLS_PORT)"
    tls_certs
  fi
  rm -f "$marker"

  local dir node
  dir="$(rabbit_dir_for "$port")"
  node="$(rabbit_node "$port")"
  local mgmt_port=$((15672 + port - 5672))
  if [ "$INFRA_FRESH" = "1" ]; then
    $SUDO rm -rf "$dir/mnesia" "$dir/log"
  fi
  {
    echo "# written by scripts/infra.sh"
    echo "listeners.tcp.1 = 127.0.0.1:$port"
    echo "loopback_users.guest = true"
    if [ "$INFRA_TLS" = "1" ]; then
      # The server's certificate and key are copied next to the node's data: user rabbitmq must read them.
      echo "listeners.ssl.1 = 127.0.0.1:$RABBITMQ_TLS_PORT"
      echo "ssl_options.cacertfile = $dir/tls/ca.pem"
      echo "ssl_options.certfile = $dir/tls/server.pem"
      echo "ssl_options.keyfile = $dir/tls/server.key"
      # Client certificates are checked when sent (mutual TLS), not required.
      echo "ssl_options.verify = verify_peer"
      echo "ssl_options.fail_if_no_peer_cert = false"
    fi
    # Cluster nodes: a node cut off from the majority pauses (closes its listeners, clients move to the other nodes)
    # and resumes by itself once it sees the majority again (cluster up sets it; see `cluster partition-node`).
    if [ -n "${RABBITMQ_PARTITION_HANDLING:-}" ]; then echo "cluster_partition_handling = $RABBITMQ_PARTITION_HANDLING"; fi
    if [ "$RABBITMQ_MANAGEMENT" = "1" ]; then
      echo "management.tcp.ip = 127.0.0.1"
      echo "management.tcp.port = $mgmt_port"
    fi
  } | $SUDO tee "$dir/rabbitmq.conf" >/dev/null
  if [ "$RABBITMQ_MANAGEMENT" = "1" ]; then
    echo "[rabbitmq_management]." | $SUDO tee "$dir/enabled_plugins" >/dev/null
  else
    echo "[]." | $SUDO tee "$dir/enabled_plugins" >/dev/null
  fi
  $SUDO mkdir -p "$dir/log" "$dir/mnesia"
  if [ "$INFRA_TLS" = "1" ]; then
    $SUDO mkdir -p "$dir/tls"
    $SUDO cp "$INFRA_TLS_DIR/ca.pem" "$INFRA_TLS_DIR/server.pem" "$INFRA_TLS_DIR/server.key" "$dir/tls/"
  fi
  $SUDO chown -R rabbitmq:rabbitmq "$dir"

  (
    rabbit_env "$port" "$dir"
    cd /
    # No systemd here: run the server in its own session so it outlives this script.
    setsid nohup $SUDO_E rabbitmq-server </dev/null >"$STATE/rabbitmq-$port.console.log" 2>&1 &
    echo $! >"$STATE/rabbitmq-$port.launcher.pid"
  )
  printf 'node=%s\npidfile=%s\ndir=%s\n' "$node" "$dir/rabbit.pid" "$dir" >"$marker"
  if [ "$INFRA_TLS" = "1" ]; then echo "tls_port=$RABBITMQ_TLS_PORT" >>"$marker"; fi
  log "starting RabbitMQ node $node on 127.0.0.1:$port (data: $dir)..."

  local launcher start=$SECONDS
  launcher="$(cat "$STATE/rabbitmq-$port.launcher.pid")"
  until rabbit_answers "$port"; do
    if ! kill -0 "$launcher" 2>/dev/null; then
      rm -f "$marker"
      tail -n 40 "$STATE/rabbitmq-$port.console.log" >&2 || true
      die "rabbitmq-server exited during startup; see $STATE/rabbitmq-$port.console.log and $dir/log/"
    fi
    if [ $((SECONDS - start)) -ge "$INFRA_TIMEOUT" ]; then
      tail -n 40 "$STATE/rabbitmq-$port.console.log" >&2 || true
      die "RabbitMQ did not answer on 127.0.0.1:$port within ${INFRA_TIMEOUT}s; see $STATE/rabbitmq-$port.console.log (node left running; 'scripts/infra.sh down' stops it)"
    fi
    sleep 1
  done
  if [ "$INFRA_TLS" = "1" ]; then
    until port_open "$RABBITMQ_TLS_PORT"; do
      [ $((SECONDS - start)) -lt "$INFRA_TIMEOUT" ] || die "RabbitMQ's TLS listener on 127.0.0.1:$RABBITMQ_TLS_PORT did not open; see $dir/log/"
      sleep 0.5
    done
    echo "rabbitmq: TLS listener amqps://localhost:$RABBITMQ_TLS_PORT/"
  fi
  log "RabbitMQ ready after ~$((SECONDS - start))s"
  echo "rabbitmq: up (started) $url"
}

rabbit_down() {
  local marker="$1" port node pidfile
  port="$(basename "$marker" .started)"; port="${port#rabbitmq-}"
  node="$(sed -n 's/^node=//p' "$marker")"
  pidfile="$(sed -n 's/^pidfile=//p' "$marker")"
  if ! rabbit_answers "$port" && ! $SUDO test -s "$pidfile"; then
    rm -f "$marker"
    echo "rabbitmq: down (was not running) port $port"
    return 0
  fi
  # `stop <pidfile>` waits until the Erlang VM has exited.
  if ! rabbitmqctl -q -n "$node" stop "$pidfile" >/dev/null 2>&1; then
    local pid
    pid="$($SUDO cat "$pidfile" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      log "rabbitmqctl stop failed; sending TERM to pid $pid"
      $SUDO kill "$pid" || true
    fi
  fi
  local waited=0
  while port_open "$port" && [ "$waited" -lt 30 ]; do sleep 1; waited=$((waited + 1)); done
  port_open "$port" && die "RabbitMQ on port $port is still listening after stop"
  rm -f "$marker" "$STATE/rabbitmq-$port.launcher.pid"
  echo "rabbitmq: down (stopped) port $port"
}

# ------------------------------------------------------------------- redis ---
redis_up() {
  local port="$REDIS_PORT" marker="$STATE/redis-$REDIS_PORT.started"
  if redis_answers "$port"; then
    if [ "$INFRA_TLS" = "1" ] && ! port_open "$REDIS_TLS_PORT"; then
      die "Redis on port $port runs without a TLS listener on $REDIS_TLS_PORT; stop it ('down', if infra.sh started it) and run 'tls up'"
    fi
    if [ -f "$marker" ]; then
      echo "redis: up (already running, started by infra.sh) localhost:$port"
    else
      echo "redis: up (already running) localhost:$port"
    fi
    return 0
  fi
  if port_open "$port"; then
    die "port $port is open but does not answer PING; refusing to start Redis there"
  fi
  rm -f "$marker"
  local dir="$STATE/redis-$port"
  mkdir -p "$dir"
  if [ "$INFRA_FRESH" = "1" ]; then
    rm -rf "$dir/appendonlydir" "$dir/appendonly.aof" "$dir/dump.rdb"
  fi
  local tls_args=()
  if [ "$INFRA_TLS" = "1" ]; then
    port_open "$REDIS_TLS_PORT" && die "the TLS port $REDIS_TLS_PORT for Redis is taken (REDIS_TLS_PORT)"
    tls_certs
    # Client certificates are checked when sent, not required (as for RabbitMQ).
    tls_args=(--tls-port "$REDIS_TLS_PORT" --tls-cert-file "$INFRA_TLS_DIR/server.pem" --tls-key-file "$INFRA_TLS_DIR/server.key"
      --tls-ca-cert-file "$INFRA_TLS_DIR/ca.pem" --tls-auth-clients optional)
  fi
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
    --appendonly yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "${tls_args[@]}" >/dev/null \
    || die "redis-server refused its options; see $dir/redis.log"
  printf 'pidfile=%s\ndir=%s\n' "$dir/redis.pid" "$dir" >"$marker"
  if [ "$INFRA_TLS" = "1" ]; then echo "tls_port=$REDIS_TLS_PORT" >>"$marker"; fi
  local deadline=$((SECONDS + INFRA_TIMEOUT))
  until redis_answers "$port"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$dir/redis.log" >&2 || true
      die "Redis did not answer on 127.0.0.1:$port within ${INFRA_TIMEOUT}s; see $dir/redis.log"
    fi
    sleep 0.2
  done
  if [ "$INFRA_TLS" = "1" ]; then
    until port_open "$REDIS_TLS_PORT"; do
      [ "$SECONDS" -lt "$deadline" ] || die "Redis's TLS port 127.0.0.1:$REDIS_TLS_PORT did not open; see $dir/redis.log"
      sleep 0.2
    done
    echo "redis: TLS listener localhost:$REDIS_TLS_PORT"
  fi
  echo "redis: up (started) localhost:$port"
}

redis_down() {
  # $2: the shutdown command (`down` skips the RDB save; the AOF is flushed either way)
  local marker="$1" how="${2:-shutdown nosave}" port
  port="$(basename "$marker" .started)"; port="${port#redis-}"
  if ! redis_answers "$port"; then
    rm -f "$marker"
    echo "redis: down (was not running) port $port"
    return 0
  fi
  redis-cli -h 127.0.0.1 -p "$port" $how >/dev/null 2>&1 || true
  local waited=0
  while port_open "$port" && [ "$waited" -lt 50 ]; do sleep 0.2; waited=$((waited + 1)); done
  if port_open "$port"; then
    local pid
    pid="$(cat "$(sed -n 's/^pidfile=//p' "$marker")" 2>/dev/null || true)"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    sleep 1
    port_open "$port" && die "Redis on port $port is still listening after shutdown"
  fi
  rm -f "$marker"
  echo "redis: down (stopped) port $port"
}

# -------------------------------------------------------------------- main ---
cmd_up() {
  mkdir -p "$STATE"
  # Fast path: both already answering, nothing to install.
  if ! { rabbit_answers && redis_answers; }; then
    install_packages
  fi
  rabbit_up
  redis_up
}

cmd_status() {
  local ok=0 how
  if rabbit_answers; then
    how=""; [ -f "$STATE/rabbitmq-$RABBITMQ_PORT.started" ] && how=" (started by infra.sh)"
    echo "rabbitmq: up$how amqp://guest:guest@localhost:$RABBITMQ_PORT/"
  else
    echo "rabbitmq: down (nothing answers AMQP on localhost:$RABBITMQ_PORT)"; ok=1
  fi
  if redis_answers; then
    how=""; [ -f "$STATE/redis-$REDIS_PORT.started" ] && how=" (started by infra.sh)"
    echo "redis: up$how localhost:$REDIS_PORT"
  else
    echo "redis: down (nothing answers PING on localhost:$REDIS_PORT)"; ok=1
  fi
  return "$ok"
}

cmd_down() {
  # Acts on the configured ports only (same env as `up`); servers this script did not
  # start are never touched.
  local m="$STATE/rabbitmq-$RABBITMQ_PORT.started"
  if [ -f "$m" ]; then
    rabbit_down "$m"
  elif rabbit_answers; then
    echo "rabbitmq: left running on localhost:$RABBITMQ_PORT (not started by infra.sh)"
  else
    echo "rabbitmq: down (was not running) port $RABBITMQ_PORT"
  fi
  m="$STATE/redis-$REDIS_PORT.started"
  if [ -f "$m" ]; then
    redis_down "$m"
  elif redis_answers; then
    echo "redis: left running on localhost:$REDIS_PORT (not started by infra.sh)"
  else
    echo "redis: down (was not running) port $REDIS_PORT"
  fi
}

cmd_restart() {
  # Only a server this script started: its data, config and marker are ours to reuse.
  local marker
  case "${1:-}" in
    rabbitmq)
      marker="$STATE/rabbitmq-$RABBITMQ_PORT.started"
      [ -f "$marker" ] || die "restart rabbitmq: no RabbitMQ node started by infra.sh on port $RABBITMQ_PORT"
      rabbit_down "$marker"
      sleep "$INFRA_DOWN_SECONDS"
      INFRA_FRESH=0 rabbit_up
      ;;
    redis)
      marker="$STATE/redis-$REDIS_PORT.started"
      [ -f "$marker" ] || die "restart redis: no Redis started by infra.sh on port $REDIS_PORT"
      redis_down "$marker" shutdown
      sleep "$INFRA_DOWN_SECONDS"
      INFRA_FRESH=0 redis_up
      ;;
    *) echo "usage: $0 restart rabbitmq|redis" >&2; exit 2 ;;
  esac
}

cmd_queues() {
  rabbit_answers || die "nothing answers AMQP on localhost:$RABBITMQ_PORT"
  rabbitmqctl -q -n "$(rabbit_node "$RABBITMQ_PORT")" list_queues --no-table-headers name messages
}

# ------------------------------------------------------------------- users ---
# Per-service least privilege. RabbitMQ permissions are three regexes (configure, write, read) matched against
# exchange and queue names; MassTransit names an event's exchange after its type (Rlhf.Contracts:RankingSubmitted),
# a receive endpoint's queue and exchange after the endpoint (ranking-submitted), its dead letters <name>_error and
# <name>_skipped, fault events MassTransit:Fault--<type>--, and each bus's own temporary queue <host>_<process>_bus_<id>.
# Every service may declare (configure) and bind from (read) any event exchange; it may publish (write) only to the
# exchanges of the events it publishes, and read only its own queues.
USER_SERVICES="generation feedback reward learner dashboard"

rabbit_publishes() {
  case "$1" in
    generation) echo 'RolloutGenerated' ;;
    feedback) echo '[A-Za-z]+Submitted|UserDataDeleted' ;;
    reward) echo 'RolloutScored|RewardModelUpdated|RewardModelRejected' ;;
    learner) echo 'PolicyUpdated|PolicyRejected|CanaryStarted|CanaryConcluded|RewardHackingSuspected' ;;
    dashboard) echo '' ;;
  esac
}

rabbit_queues() {
  # Each service's receive endpoints (QueueNames in shared/Rlhf.Hosting; the learner's Learner:QueuePrefix is
  # "learner", the reward's Reward:QueuePrefix is empty by default and any prefix is allowed here).
  case "$1" in
    generation) echo 'generation-.+' ;;
    feedback) echo '' ;;
    reward) echo '([a-z0-9-]+-)?(ranking-submitted|rating-submitted|ratings-submitted|comment-submitted|regeneration-submitted|reward-edits|rollout-generated|user-data-deleted|reward-scorer-.+)' ;;
    learner) echo 'learner-.+' ;;
    dashboard) echo 'live-dashboard-.+' ;;
  esac
}

rabbit_permissions() {
  # prints: configure write read
  local service="$1" own publishes mechanics
  own="$(rabbit_queues "$service")"
  publishes="$(rabbit_publishes "$service")"
  mechanics='[^:]+_bus_[A-Za-z0-9]+|MassTransit:Fault.*'
  local queues="${own:+($own)(_error|_skipped)?|}"
  local events="${publishes:+Rlhf\.Contracts:($publishes)|}"
  printf '^(%sRlhf\\.Contracts:[A-Za-z]+|%s)$\t^(%s%s%s)$\t^(%sRlhf\\.Contracts:[A-Za-z]+|%s)$\n' \
    "$queues" "$mechanics" "$queues" "$events" "$mechanics" "$queues" "$mechanics"
}

users_secret() {
  # A password kept in $1 (created once, mode 600).
  if [ ! -s "$1" ]; then
    (umask 077; openssl rand -hex 24 >"$1")
  fi
  tr -d '\n' <"$1"
}

# RabbitMQ's rabbit_password_hashing_sha256 of $1: base64(salt ++ sha256(salt ++ password)) with a random 4-byte salt.
rabbit_password_hash() {
  local salt digest
  salt="$(openssl rand -hex 4)"
  digest="$( { hex_bytes "$salt"; printf '%s' "$1"; } | openssl dgst -sha256 -binary | od -An -v -tx1 | tr -d ' \n')"
  hex_bytes "$salt$digest" | base64 -w0
}

hex_bytes() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

redis_admin_cli() {
  # redis-cli as rlhf-admin once `users` created it, else as the default user.
  local dir="$1"; shift
  if [ -s "$dir/redis-admin.password" ] && REDISCLI_AUTH="$(tr -d '\n' <"$dir/redis-admin.password")" \
      redis-cli --no-auth-warning --user rlhf-admin -h 127.0.0.1 -p "$REDIS_PORT" ACL WHOAMI 2>/dev/null | grep -qx rlhf-admin; then
    REDISCLI_AUTH="$(tr -d '\n' <"$dir/redis-admin.password")" redis-cli --no-auth-warning --user rlhf-admin -h 127.0.0.1 -p "$REDIS_PORT" "$@"
  else
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
  fi
}

redis_acl() {
  local dir="$1"; shift
  local out
  out="$(redis_admin_cli "$dir" ACL SETUSER "$@" 2>&1)" || die "redis ACL SETUSER $1 failed: $out"
  [ "$out" = "OK" ] || die "redis ACL SETUSER $1 failed: $out"
}

cmd_users() {
  if [ "$INFRA_USERS_ANY" != "1" ]; then
    [ -f "$STATE/rabbitmq-$RABBITMQ_PORT.started" ] \
      || die "users: the RabbitMQ node on port $RABBITMQ_PORT was not started by this checkout's infra.sh; refusing to change its users (INFRA_USERS_ANY=1 to do it anyway)"
    [ -f "$STATE/redis-$REDIS_PORT.started" ] \
      || die "users: the Redis on port $REDIS_PORT was not started by this checkout's infra.sh; refusing to change its users (INFRA_USERS_ANY=1 to do it anyway)"
  fi
  rabbit_answers || die "users: nothing answers AMQP on localhost:$RABBITMQ_PORT"
  redis_answers || die "users: nothing answers on localhost:$REDIS_PORT"
  command -v openssl >/dev/null 2>&1 || die "users: openssl is needed for the passwords (apt-get install -y openssl)"
  local node dir
  node="$(rabbit_node "$RABBITMQ_PORT")"
  dir="$STATE/users-$RABBITMQ_PORT-$REDIS_PORT"
  mkdir -p "$dir"; chmod 700 "$dir"

  # All RabbitMQ users and their permissions in one definitions import (one rabbitmqctl call instead of three per user;
  # each call boots an Erlang VM). Passwords go in as RabbitMQ's salted SHA-256 hashes, the JSON through stdin.
  local service user password perms configure write read redis_password users_json="" permissions_json=""
  for service in $USER_SERVICES ops archive; do
    user="rlhf-$service"
    password="$(users_secret "$dir/$service.rabbitmq.password")"
    local tags=""
    if [ "$service" = "ops" ]; then
      configure='.*' write='.*' read='.*' tags="administrator"
    elif [ "$service" = "archive" ]; then
      # The archive stream's user: declares the stream and the event exchanges, binds them to it (write on the queue,
      # read on the exchanges) and reads the stream (the dashboard's index); nothing else.
      local archive_queue
      archive_queue="$(printf '%s' "$INFRA_ARCHIVE_QUEUE" | sed 's/[.[\*^$()+?{}|]/\\&/g')"
      configure="^($archive_queue|Rlhf\.Contracts:[A-Za-z]+)\$" write="^$archive_queue\$" read="^($archive_queue|Rlhf\.Contracts:[A-Za-z]+)\$"
    elif [ "$service" = "learner" ]; then
      # The learner also serves the admin routes for dead letters: it reads (gets, purges) every _error/_skipped queue
      # and requeues through the default exchange (write on amq.default, which reaches any queue by name).
      perms="$(rabbit_permissions "$service")"
      IFS=$'\t' read -r configure write read <<<"$perms"
      write="${write%)\$}|amq\.default)\$"
      read="${read%)\$}|.+_error|.+_skipped)\$"
    else
      perms="$(rabbit_permissions "$service")"
      IFS=$'\t' read -r configure write read <<<"$perms"
    fi
    users_json+="${users_json:+,}{\"name\":$(json_string "$user"),\"password_hash\":$(json_string "$(rabbit_password_hash "$password")"),\"hashing_algorithm\":\"rabbit_password_hashing_sha256\",\"tags\":\"$tags\"}"
    permissions_json+="${permissions_json:+,}{\"user\":$(json_string "$user"),\"vhost\":\"/\",\"configure\":$(json_string "$configure"),\"write\":$(json_string "$write"),\"read\":$(json_string "$read")}"
    printf 'rabbitmq: %s configure=%s write=%s read=%s\n' "$user" "$configure" "$write" "$read"
  done
  printf '{"users":[%s],"permissions":[%s]}' "$users_json" "$permissions_json" \
    | rabbitmqctl -q -n "$node" import_definitions --format json >/dev/null \
    || die "users: rabbitmqctl import_definitions failed on $node"
  if rabbitmqctl -q -n "$node" list_users --no-table-headers 2>/dev/null | cut -f1 | grep -qx guest; then
    rabbitmqctl -q -n "$node" delete_user guest >/dev/null
    echo "rabbitmq: guest deleted"
  fi

  # Redis: the admin user first (the default user is switched off last).
  local admin_password
  admin_password="$(users_secret "$dir/redis-admin.password")"
  redis_acl "$dir" rlhf-admin on ">$admin_password" '~*' '&*' +@all
  for service in $USER_SERVICES ops; do
    redis_password="$(users_secret "$dir/$service.redis.password")"
    # resetpass/resetkeys first, so a rerun leaves exactly these rules. Pub/sub channels stay open: StackExchange.Redis
    # subscribes to its own notification channel.
    redis_acl "$dir" "rlhf-$service" on resetpass ">$redis_password" resetkeys "~${INFRA_REDIS_PREFIX}*" '&*' +@all -@dangerous +info
    echo "redis: rlhf-$service keys ~${INFRA_REDIS_PREFIX}* (no @dangerous commands)"
  done
  redis_acl "$dir" default off
  echo "redis: default user off"

  # Servers started with TLS (`tls up`): the env files name the TLS ports and the private CA.
  local rabbit_tls redis_tls
  rabbit_tls="$(sed -n 's/^tls_port=//p' "$STATE/rabbitmq-$RABBITMQ_PORT.started" 2>/dev/null || true)"
  redis_tls="$(sed -n 's/^tls_port=//p' "$STATE/redis-$REDIS_PORT.started" 2>/dev/null || true)"
  for service in $USER_SERVICES ops; do
    {
      echo "# written by scripts/infra.sh users: the credentials of rlhf-$service (environment variables of the service)"
      if [ -n "$rabbit_tls" ]; then
        echo "Bus__RabbitMq__Port=$rabbit_tls"
        tls_settings Bus__RabbitMq__Tls
      else
        echo "Bus__RabbitMq__Port=$RABBITMQ_PORT"
      fi
      echo "Bus__RabbitMq__Username=rlhf-$service"
      echo "Bus__RabbitMq__Password=$(users_secret "$dir/$service.rabbitmq.password")"
      if [ -n "$redis_tls" ]; then
        echo "Redis__Configuration=127.0.0.1:$redis_tls,ssl=true,user=rlhf-$service,password=$(users_secret "$dir/$service.redis.password")"
        tls_settings Redis__Tls
      else
        echo "Redis__Configuration=127.0.0.1:$REDIS_PORT,user=rlhf-$service,password=$(users_secret "$dir/$service.redis.password")"
      fi
      if [ "$service" = "dashboard" ]; then archive_settings "$dir"; fi
    } >"$dir/$service.env"
    chmod 600 "$dir/$service.env"
  done
  {
    echo "# written by scripts/infra.sh users: the archive stream's user, for a service with Archive__Enabled=true"
    archive_settings "$dir"
  } >"$dir/archive.env"
  chmod 600 "$dir/archive.env"
  echo "users: credentials in $dir/<service>.env (archive stream: archive.env, also in dashboard.env)"
}

archive_settings() {
  echo "Archive__Username=rlhf-archive"
  echo "Archive__Password=$(users_secret "$1/archive.rabbitmq.password")"
}

# ---------------------------------------------------------------------- tls ---
# A private CA and, signed by it, a server certificate for localhost / 127.0.0.1 (both servers) and a client
# certificate (mutual TLS, optional on both servers). EC P-256 keys; made once, kept on reruns.
tls_certs() {
  local d="$INFRA_TLS_DIR"
  if [ -s "$d/ca.pem" ] && [ -s "$d/server.pem" ] && [ -s "$d/server.key" ] && [ -s "$d/client.pem" ] && [ -s "$d/client.key" ]; then
    return 0
  fi
  command -v openssl >/dev/null 2>&1 || die "tls: openssl is needed for the certificates (apt-get install -y openssl)"
  mkdir -p "$d"
  chmod 700 "$d"
  log "tls: making a private CA and server / client certificates in $d"
  (
    cd "$d"
    umask 077
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 825 -subj "/CN=rlhf-infra private CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    local who usage
    for who in server client; do
      if [ "$who" = server ]; then usage="serverAuth"; else usage="clientAuth"; fi
      openssl req "${ec[@]}" -keyout "$who.key" -out "$who.csr" -subj "/CN=$([ "$who" = server ] && echo localhost || echo rlhf-client)"
      printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' "$usage" >"$who.ext"
      if [ "$who" = server ]; then echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >>"$who.ext"; fi
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$who.pem" -days 825 -extfile "$who.ext"
      rm -f "$who.csr" "$who.ext"
    done
    chmod 644 ca.pem server.pem client.pem
  ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "tls: openssl failed; see $d/openssl.log"; }
}

# The TLS settings of one connection kind (prefix Bus__RabbitMq__Tls or Redis__Tls) for the certificates of tls_certs.
tls_settings() {
  echo "$1__Enabled=true"
  echo "$1__ServerName=localhost"
  echo "$1__CaFile=$INFRA_TLS_DIR/ca.pem"
}

cmd_tls() {
  case "${1:-}" in
    up)
      INFRA_TLS=1
      cmd_up
      local env="$INFRA_TLS_DIR/tls-$RABBITMQ_PORT-$REDIS_PORT.env"
      {
        echo "# written by scripts/infra.sh tls up: TLS settings of the services (add the credentials of 'users' if it ran)"
        echo "Bus__RabbitMq__Port=$RABBITMQ_TLS_PORT"
        tls_settings Bus__RabbitMq__Tls
        echo "Redis__Configuration=127.0.0.1:$REDIS_TLS_PORT,ssl=true"
        tls_settings Redis__Tls
      } >"$env"
      echo "tls: amqps://localhost:$RABBITMQ_TLS_PORT/ and rediss://localhost:$REDIS_TLS_PORT, CA $INFRA_TLS_DIR/ca.pem,"
      echo "tls: client certificate $INFRA_TLS_DIR/client.pem (key client.key); service settings in $env:"
      grep -v '^#' "$env" | sed 's/^/  /'
      if [ "${2:-}" = "--secure" ]; then cmd_users; fi
      ;;
    down) cmd_down ;;
    status)
      local ok=0
      cmd_status || ok=1
      if port_open "$RABBITMQ_TLS_PORT"; then echo "rabbitmq: TLS port $RABBITMQ_TLS_PORT open"; else echo "rabbitmq: TLS port $RABBITMQ_TLS_PORT closed"; ok=1; fi
      if port_open "$REDIS_TLS_PORT"; then echo "redis: TLS port $REDIS_TLS_PORT open"; else echo "redis: TLS port $REDIS_TLS_PORT closed"; ok=1; fi
      return "$ok"
      ;;
    *) echo "usage: $0 tls up [--secure]|down|status" >&2; exit 2 ;;
  esac
}

# ----------------------------------------------------------------- cluster ---
cluster_ports() { read -r -a CLUSTER <<<"$RABBITMQ_CLUSTER_PORTS"; [ "${#CLUSTER[@]}" -ge 2 ] || die "RABBITMQ_CLUSTER_PORTS needs at least 2 ports"; }

cluster_port_of() {
  cluster_ports
  local n="${1:-}"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "${#CLUSTER[@]}" ] || die "cluster: node number must be 1..${#CLUSTER[@]}, got '${n}'"
  echo "${CLUSTER[$((n - 1))]}"
}

# Nodes that node <port> sees running in its cluster, one per line.
cluster_running() {
  rabbitmqctl -q -n "$(rabbit_node "$1")" cluster_status --formatter json 2>/dev/null \
    | grep -o '"running_nodes":\[[^]]*\]' | grep -o '[A-Za-z0-9_.-]*@[A-Za-z0-9_.-]*' || true
}

cluster_up() {
  cluster_ports
  mkdir -p "$STATE"
  local all_answer=1 port
  for port in "${CLUSTER[@]}"; do rabbit_answers "$port" || all_answer=0; done
  [ "$all_answer" -eq 1 ] || install_packages
  # Started together: a node restarting from its data waits for the peer that stopped last, so one at a time the
  # first node would wait (and time out) for a peer that is not started yet.
  local pids=() failed=0 pid
  for port in "${CLUSTER[@]}"; do (RABBITMQ_PORT="$port"; RABBITMQ_PARTITION_HANDLING=pause_minority; rabbit_up) & pids+=("$!"); done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || die "cluster: a node did not start (see the console logs under $STATE)"
  local first; first="$(rabbit_node "${CLUSTER[0]}")"
  for port in "${CLUSTER[@]:1}"; do
    local node; node="$(rabbit_node "$port")"
    if cluster_running "${CLUSTER[0]}" | grep -qx "$node"; then
      continue
    fi
    log "joining $node to $first..."
    rabbitmqctl -q -n "$node" stop_app >/dev/null
    rabbitmqctl -q -n "$node" reset >/dev/null
    rabbitmqctl -q -n "$node" join_cluster "$first" >/dev/null
    rabbitmqctl -q -n "$node" start_app >/dev/null
  done
  cluster_status
}

cluster_status() {
  cluster_ports
  local port ok=0 running
  running="$(for port in "${CLUSTER[@]}"; do rabbit_answers "$port" && cluster_running "$port"; done | sort -u | tr '\n' ' ')"
  for port in "${CLUSTER[@]}"; do
    if rabbit_answers "$port"; then
      echo "rabbitmq-cluster: $(rabbit_node "$port") up amqp://guest:guest@localhost:$port/"
    else
      echo "rabbitmq-cluster: $(rabbit_node "$port") down (port $port)"; ok=1
    fi
  done
  echo "rabbitmq-cluster: running nodes: ${running:-none}"
  return "$ok"
}

cluster_down() {
  cluster_ports
  local port
  for port in "${CLUSTER[@]}"; do
    if [ -f "$STATE/rabbitmq-$port.started" ]; then rabbit_down "$STATE/rabbitmq-$port.started"; else echo "rabbitmq: down (not started by infra.sh) port $port"; fi
  done
}

cluster_node() {
  local action="$1" port; port="$(cluster_port_of "${2:-}")"
  local marker="$STATE/rabbitmq-$port.started"
  case "$action" in
    stop-node)
      [ -f "$marker" ] || die "cluster: node on port $port was not started by infra.sh"
      rabbit_down "$marker" ;;
    kill-node)
      [ -f "$marker" ] || die "cluster: node on port $port was not started by infra.sh"
      local pidfile pid; pidfile="$(sed -n 's/^pidfile=//p' "$marker")"
      pid="$($SUDO cat "$pidfile" 2>/dev/null || true)"
      [ -n "$pid" ] || die "cluster: no pid for the node on port $port"
      $SUDO kill -9 "$pid"
      local waited=0
      while port_open "$port" && [ "$waited" -lt 30 ]; do sleep 1; waited=$((waited + 1)); done
      rm -f "$marker"
      echo "rabbitmq: killed (SIGKILL) port $port" ;;
    start-node)
      (RABBITMQ_PORT="$port"; INFRA_FRESH=0; RABBITMQ_PARTITION_HANDLING=pause_minority; rabbit_up) ;;
  esac
}

# A network partition without iptables or network namespaces (neither is allowed here): node N and every other node
# are told to use a wrong Erlang cookie for each other (two different ones) and their distribution links are dropped, so neither side can
# reconnect (the handshake fails) while clients still reach every node's AMQP port. With pause_minority, N (alone)
# pauses and the other two keep the quorum queues. `heal-node N` restores the cookies and reconnects.
cluster_erl() { rabbitmqctl -q -n "$(rabbit_node "$1")" eval "$2" >/dev/null; }

cluster_partition() {
  local action="$1" port; port="$(cluster_port_of "${2:-}")"
  local node other; node="$(rabbit_node "$port")"
  cluster_ports
  for other_port in "${CLUSTER[@]}"; do
    [ "$other_port" = "$port" ] && continue
    other="$(rabbit_node "$other_port")"
    if [ "$action" = "partition-node" ]; then
      # Two different wrong cookies: with one shared wrong cookie both sides would agree again on the next connect.
      cluster_erl "$port" "erlang:set_cookie('$other', rlhf_partition_inside), erlang:disconnect_node('$other')."
      cluster_erl "$other_port" "erlang:set_cookie('$node', rlhf_partition_outside), erlang:disconnect_node('$node')."
    else
      cluster_erl "$port" "erlang:set_cookie('$other', erlang:get_cookie())."
      cluster_erl "$other_port" "erlang:set_cookie('$node', erlang:get_cookie()), net_kernel:connect_node('$node')."
    fi
  done
  if [ "$action" = "partition-node" ]; then
    echo "rabbitmq-cluster: $node partitioned from the other nodes"
  else
    echo "rabbitmq-cluster: $node reconnected"
  fi
}

cmd_cluster() {
  case "${1:-}" in
    up) cluster_up ;;
    down) cluster_down ;;
    status) cluster_status ;;
    stop-node|kill-node|start-node) cluster_node "$1" "${2:-}" ;;
    partition-node|heal-node) cluster_partition "$1" "${2:-}" ;;
    *) echo "usage: $0 cluster up|down|status|stop-node N|kill-node N|start-node N|partition-node N|heal-node N" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  up)
    case "${2:-}" in
      "") cmd_up ;;
      --secure) cmd_up; cmd_users ;;
      *) echo "usage: $0 up [--secure]" >&2; exit 2 ;;
    esac
    ;;
  tls) cmd_tls "${2:-}" "${3:-}" ;;
  cluster) cmd_cluster "${2:-}" "${3:-}" ;;
  queues) cmd_queues ;;
  users) cmd_users ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart) cmd_restart "${2:-}" ;;
  *) echo "usage: $0 up [--secure]|down|status|queues|users|tls up|down|status|restart rabbitmq|redis|cluster ..." >&2; exit 2 ;;
esac
