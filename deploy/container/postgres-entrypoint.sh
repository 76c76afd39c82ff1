#!/bin/sh
# The official postgres image's contract, as far as docker-compose.yml uses it: on an empty
# $PGDATA, create the cluster with POSTGRES_USER (password POSTGRES_PASSWORD, scram) owning
# POSTGRES_DB; then run PostgreSQL in the foreground, listening on every address.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --no-instructions -D "$PGDATA"
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        # A private socket while the database is created: nobody sees a server until it has it.
        private=$(mktemp -d)
        postgres -D "$PGDATA" -c listen_addresses='' -c unix_socket_directories="$private" &
        until pg_isready -q -h "$private"; do sleep 0.2; done
        createdb -h "$private" -U "$POSTGRES_USER" -O "$POSTGRES_USER" "$POSTGRES_DB"
        pg_ctl -D "$PGDATA" -m fast -w stop
    fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
