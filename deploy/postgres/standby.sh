#!/bin/sh
# The standby's entry point: on first start copy the primary (pg_basebackup -R writes
# standby.signal and primary_conninfo), then run as a hot standby that reports itself
# as `standby1`, the name synchronous_standby_names lists on the primary.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h postgres -p 5432 -q; do sleep 1; done
  pg_basebackup -h postgres -p 5432 -U replicator -D "$PGDATA" -X stream -R \
    --checkpoint=fast --create-slot --slot=standby1
  chmod 700 "$PGDATA"
fi
exec postgres -c cluster_name=standby1 -c hot_standby=on
