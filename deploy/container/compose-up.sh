#!/usr/bin/env bash
# docker-compose.yml brought up in its dependency order, one stage at a time:
#   deploy/container/compose-up.sh [PROJECT]        (podman-compose, or COMPOSE="docker compose")
# Debian bookworm's podman (4.3) runs the stack, but podman-compose cannot enforce its conditions
# there: `service_healthy` is skipped (podman < 4.6 runs healthchecks only through systemd
# timers), and `service_completed_successfully` waits with `podman wait --condition=stopped`,
# which never returns for a container that exited. So each stage here waits for what the next
# one depends on and starts it with --no-deps. With docker compose or podman >= 4.6,
# `compose up -d` does the same by itself.
set -euo pipefail
project=${1:-pumpapi}
compose=${COMPOSE:-podman-compose}
engine=${CONTAINER:-podman}
cd "$(dirname "$0")/../.."
up() { $compose -p "$project" up -d --no-deps "$@"; }
name() { echo "${project}_$1_1"; }

up postgres
for _ in $(seq 1 150); do
    "$engine" exec "$(name postgres)" pg_isready -q -U pumpapi -d pumpapi && break
    sleep 0.2
done
"$engine" exec "$(name postgres)" pg_isready -U pumpapi -d pumpapi

# Schema, demo fleet and training: the APIs start only once it has succeeded.
up init
status=$("$engine" wait "$(name init)")
if [ "$status" != 0 ]; then
    "$engine" logs "$(name init)" >&2
    echo "init exited with $status" >&2
    exit 1
fi

up api1 api2 nginx
