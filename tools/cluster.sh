#!/usr/bin/env bash
# cluster.sh -- a local Redis Cluster for demos and tests: 3 masters and 3
# replicas (redis-server 7.0), cluster-node-timeout 1000, AOF with
# appendfsync always, cluster-require-full-coverage no (a shard failing over
# does not stop the other two), one directory per node under --dir.
#
#   tools/cluster.sh start  [--base-port P] [--dir D]   ports P..P+5 (default 7000, var/cluster)
#   tools/cluster.sh status [--base-port P] [--dir D]   CLUSTER INFO and the node table
#   tools/cluster.sh stop   [--base-port P] [--dir D]   stops the nodes (data stays in D)
#
# After start it prints the redis.url to give cityd:
#   bin/cityd -o redis.url=redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
# Each node also uses port+10000 (the cluster bus). A second start on the
# same --dir restarts the nodes with their nodes.conf (the cluster as it
# was); `stop` then `rm -rf D` forgets it.
set -euo pipefail

cmd=${1:-}
shift || true
base=7000
dir=var/cluster
while [ $# -gt 0 ]; do
    case "$1" in
    --base-port) base=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
ports=$(seq "$base" $((base + 5)))

ping() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

start_node() {
    local p=$1 d=$dir/$1
    mkdir -p "$d"
    ping "$p" && return 0
    if in_use "$p" || in_use $((p + 10000)); then
        echo "cluster.sh: port $p or its bus port $((p + 10000)) is taken; try --base-port" >&2
        return 1
    fi
    redis-server --port "$p" --bind 127.0.0.1 --dir "$d" --daemonize yes \
        --pidfile "$d/redis.pid" --logfile "$d/redis.log" --save "" \
        --appendonly yes --appendfsync always \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
        --cluster-require-full-coverage no
}

wait_ok() {
    for _ in $(seq 1 200); do
        if redis-cli -p "$base" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
            return 0
        fi
        sleep 0.1
    done
    echo "cluster.sh: cluster not ok after 20 s (see $dir/*/redis.log)" >&2
    return 1
}

case "$cmd" in
start)
    fresh=1
    for p in $ports; do
        [ -f "$dir/$p/nodes.conf" ] && fresh=0
        start_node "$p"
    done
    for p in $ports; do
        for _ in $(seq 1 100); do ping "$p" && break; sleep 0.05; done
        ping "$p" || { echo "cluster.sh: node $p does not start" >&2; exit 1; }
    done
    if [ "$fresh" = 1 ]; then
        addrs=""
        for p in $ports; do addrs="$addrs 127.0.0.1:$p"; done
        # shellcheck disable=SC2086
        redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes >/dev/null
    fi
    wait_ok
    echo "redis-cluster://127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
    ;;
stop)
    for p in $ports; do
        redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    done
    ;;
status)
    redis-cli -p "$base" cluster info | grep -E 'cluster_state|cluster_slots_ok|cluster_known_nodes|cluster_size'
    redis-cli -p "$base" cluster nodes | awk '{print $2, $3, $9}'
    ;;
*)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
