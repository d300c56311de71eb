#!/bin/sh
# Runs once, when the primary's data folder is first created: lets a streaming replica connect
# (`all` in pg_hba.conf's database column does not cover replication connections).
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
