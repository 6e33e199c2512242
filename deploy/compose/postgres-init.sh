#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data directory
# (/docker-entrypoint-initdb.d). Creates the two roles Switchyard uses (docs/DEPLOY.md):
#   switchyard      owns the database and its tables; only `switchyard-api migrate` uses it
#   switchyard_app  what api, scheduler and workers connect as: no superuser, no
#                   BYPASSRLS, owns nothing, so row-level security applies to it
# The migrations grant switchyard_app its table privileges.
set -euo pipefail
: "${SWITCHYARD_OWNER_PASSWORD:?}" "${SWITCHYARD_APP_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$SWITCHYARD_OWNER_PASSWORD" -v app_password="$SWITCHYARD_APP_PASSWORD" <<'SQL'
CREATE ROLE switchyard LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE switchyard_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE switchyard OWNER switchyard;
REVOKE ALL ON DATABASE switchyard FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE switchyard TO switchyard_app;
SQL
