#!/bin/sh
# First start of the team's PostgreSQL: the auth app's database, and the Optuna studies'
# database with a role of its own (workers get this password, not the tracking store's).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE mlflow_auth;
CREATE ROLE optuna LOGIN PASSWORD '$OPTUNA_PASSWORD';
CREATE DATABASE optuna OWNER optuna;
SQL
