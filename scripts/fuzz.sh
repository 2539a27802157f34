#!/usr/bin/env bash
# Fuzzing the running server, on each backend, with RATE_LIMITS=off (a rate limiter would answer
# 429 to most of the requests):
#
# - schemathesis against /openapi.json, authenticated: no answer may be a 5xx, and every answer
#   must match the document (status, headers, content type, body schema);
# - scripts/fuzz_edges.py: the inputs an attacker tries first (NULs, control characters, bytes
#   that are not UTF-8, percent-encoded and mixed-case paths, the rate-limited paths under other
#   spellings, huge and degenerate values, wrong JSON types, NULs in JSON keys and multipart
#   fields, degenerate pictures, malformed HTTP) against every operation: no 5xx, and every error
#   body is {"detail", "code"}.
#
# Each backend gets a fresh database: SQLite in a temporary directory, PostgreSQL a database
# `fuzz_<random>` created on FUZZ_POSTGRES_URL for the run and dropped afterwards (the server of
# DATABASE_URL when that is a postgres:// URL, else postgres://postgres@127.0.0.1:5432; psql is
# used for both). Any panic or internal error in a server's log fails the run too.
#
# Settings (environment):
#   FUZZ_BACKENDS          backends to run on (default "sqlite postgres")
#   SCHEMATHESIS_BACKENDS  backends schemathesis runs on (default "sqlite postgres", about half a
#                          minute each; empty for none; the edge cases, a few seconds, run on
#                          every backend)
#   MAX_EXAMPLES           schemathesis examples per operation (default 20); SEED its seed (1)
#   BEING_SOCIAL_BIN       the server binary (default target/debug/being-social); set it to use a
#                          copy, e.g. while the tree is being rebuilt. Without it the debug binary
#                          is built first unless SKIP_BUILD=1.
# Schemathesis is installed from PyPI at a pinned version into a virtualenv under target/.
# Arguments are passed on to `schemathesis run` (e.g. `--phases stateful`).
set -euo pipefail
cd "$(dirname "$0")/.."

# No __pycache__ beside the hooks and the edge script in the work tree.
export PYTHONDONTWRITEBYTECODE=1

SCHEMATHESIS_VERSION=4.32.5
VENV=target/schemathesis-venv
MAX_EXAMPLES="${MAX_EXAMPLES:-20}"
FUZZ_BACKENDS="${FUZZ_BACKENDS:-sqlite postgres}"
SCHEMATHESIS_BACKENDS="${SCHEMATHESIS_BACKENDS-sqlite postgres}"
if [ -z "${FUZZ_POSTGRES_URL:-}" ]; then
    case "${DATABASE_URL:-}" in
        postgres://* | postgresql://*) FUZZ_POSTGRES_URL="${DATABASE_URL%/*}" ;;
        *) FUZZ_POSTGRES_URL=postgres://postgres@127.0.0.1:5432 ;;
    esac
fi

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION (pip, into $VENV)"
    if ! python3 -m venv --clear "$VENV" 2>/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv --clear "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ -n "${BEING_SOCIAL_BIN:-}" ]; then
    bin="$BEING_SOCIAL_BIN"
else
    bin=target/debug/being-social
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        cargo build -p being-social
    fi
fi
[ -x "$bin" ] || { echo "no server binary at $bin" >&2; exit 1; }

work=$(mktemp -d)
server=
database=
stop_server() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
        server=
    fi
}
drop_database() {
    if [ -n "$database" ]; then
        psql -q -v ON_ERROR_STOP=1 "$FUZZ_POSTGRES_URL/postgres" \
            -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null ||
            echo "could not drop the database $database on $FUZZ_POSTGRES_URL" >&2
        database=
    fi
}
cleanup() {
    stop_server
    drop_database
    rm -rf "$work"
}
trap cleanup EXIT

# Starts the server on a free port against $1 (a database URL), logging to $2; sets $base.
start_server() {
    local url=$1 log=$2 port
    port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    RATE_LIMITS=off BIND="127.0.0.1:$port" DATABASE_URL="$url" MEDIA_DIR="$work/media-$port" \
        RUST_LOG="${RUST_LOG:-warn}" "$bin" >"$log" 2>&1 &
    server=$!
    for _ in $(seq 1 120); do
        "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('$base/healthz')" 2>/dev/null && return 0
        kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "the server exited" >&2; return 1; }
        sleep 0.5
    done
    echo "the server did not answer /healthz within 60 s" >&2
    return 1
}

# The hooks sign up and log in a user for the token (see scripts/schemathesis_hooks.py).
#
# Every check runs but three that cannot hold for this API (and one per operation, in
# scripts/schemathesis.toml):
# - `positive_data_acceptance` expects every schema-valid request to succeed; the server rightly
#   refuses values no schema can describe (an opaque `cursor` it did not issue, an email that is
#   valid to JSON Schema but not to the server, a new `password` without the right
#   `current_password`, an empty file).
# - `ensure_resource_availability` reports a 404 on a resource created earlier in a stateful
#   scenario unless it saw a DELETE of that resource; the contract's URLs (kept from the DRF
#   service) delete at paths unrelated to those that create (`/posts/delete-comment/{id}/` for a
#   comment made at `/posts/post-comment/{post}/`, `/posts/edit/{id}/` for `/posts/create/`), so
#   it cannot see the deletion and reports the right 404 as a failure.
# - `use_after_free` is the other side of the same URL shapes: `DELETE /posts/post-reaction/{id}/`
#   removes the caller's like of the post, and `GET` at the same path lists the post's likers,
#   which still exist; it reports the right 200 as a deleted resource still served.
# One worker: with several, hypothesis's lambda-source parsing fails on Python 3.11 ("AST
# constructor recursion depth mismatch"), a bug of the tools, not of the server.
run_schemathesis() {
    SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=scripts BEING_SOCIAL_URL="$base" \
        "$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
        --url "$base" \
        --checks all \
        --exclude-checks positive_data_acceptance,ensure_resource_availability,use_after_free \
        --max-examples "$MAX_EXAMPLES" \
        --seed "${SEED:-1}" \
        --workers 1 \
        --no-color \
        "$@"
}

status=0
failed=()
for backend in $FUZZ_BACKENDS; do
    printf '\n--- fuzzing on %s\n' "$backend"
    case "$backend" in
        sqlite) url="sqlite://$work/db.sqlite" ;;
        postgres)
            command -v psql >/dev/null || { echo "psql is needed for the PostgreSQL run" >&2; exit 1; }
            database="fuzz_$(date +%s)_$$_$RANDOM"
            psql -q -v ON_ERROR_STOP=1 "$FUZZ_POSTGRES_URL/postgres" -c "CREATE DATABASE $database" >/dev/null
            url="$FUZZ_POSTGRES_URL/$database"
            ;;
        *) echo "unknown backend \"$backend\" in FUZZ_BACKENDS (sqlite, postgres)" >&2; exit 1 ;;
    esac
    log="$work/server-$backend.log"
    start_server "$url" "$log"

    this=0
    if [[ " $SCHEMATHESIS_BACKENDS " == *" $backend "* ]]; then
        run_schemathesis "$@" || { this=1; failed+=("schemathesis on $backend"); }
    fi
    FUZZ_BACKEND="$backend" BEING_SOCIAL_URL="$base" "$VENV/bin/python" scripts/fuzz_edges.py ||
        { this=1; failed+=("edge cases on $backend"); }

    if grep -qiE "panicked|internal error" "$log"; then
        echo "the server logged a panic or an internal error on $backend:" >&2
        grep -iE -A3 "panicked|internal error" "$log" >&2
        this=1
        failed+=("the server's log on $backend")
    fi
    kill -0 "$server" 2>/dev/null || { echo "the server died during the run on $backend" >&2; this=1; failed+=("the server on $backend"); }
    stop_server
    drop_database
    if [ "$this" != 0 ]; then
        cp "$log" "target/fuzz-server-$backend.log"
        echo "the server's log is in target/fuzz-server-$backend.log" >&2
        status=1
    fi
done

if [ "$status" != 0 ]; then
    printf '\nfuzzing failed: %s\n' "$(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')" >&2
else
    printf '\nfuzzing passed on: %s\n' "$FUZZ_BACKENDS"
fi
exit "$status"
