#!/usr/bin/env bash
# The benchmark harness of issue 5; see docs/benchmarks.md.
#
#   scripts/bench.sh [hot-likes] [pgbench] [mutual-follows] [feed] [memory]
#                    [celebrity-post] [prolific-follow] [mixed-feed] [delivery] [storage]   (none: all)
#
# Builds in release mode, creates a fresh PostgreSQL database (dropping an old one of that name),
# migrates and seeds it, starts the release server on it, runs the chosen scenarios, stops the
# server and prints one table of figures against the targets, with the machine's load.
# Every knob is an environment variable (BENCH_*), listed below with its default.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# --- settings ---------------------------------------------------------------------------------
PG_ADMIN_URL=${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_DB=${BENCH_DB:-being_social_bench}
DB_URL=${PG_ADMIN_URL%/*}/$BENCH_DB
PORT=${BENCH_PORT:-18480}
WORKERS=${BENCH_WORKERS:-2}
# About two connections per core of the database server (here the same machine): more only adds
# PostgreSQL backends competing for the cores; the feed's p99 went from ~20 ms at 5 to ~100 ms at 32.
POOL_SIZE=${BENCH_POOL_SIZE:-$((2 * $(nproc) + 1))}
SEED_USERS=${BENCH_USERS:-10000}
SEED_POSTS=${BENCH_POSTS:-500000}
SEED_FOLLOWS=${BENCH_FOLLOWS_PER_USER:-100}
SEED_HEAVY=${BENCH_HEAVY_FOLLOWS:-1000}
SEED_LIKERS=${BENCH_LIKERS:-800000}
HOT_THREADS=${BENCH_HOT_THREADS:-2}
HOT_CONNECTIONS=${BENCH_HOT_CONNECTIONS:-256}
HOT_DURATION=${BENCH_HOT_DURATION:-20s}
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-64}
PGBENCH_SECONDS=${BENCH_PGBENCH_SECONDS:-20}
PAIRS=${BENCH_PAIRS:-2000}
PAIR_CONCURRENCY=${BENCH_PAIR_CONCURRENCY:-64}
FEED_PAGES=${BENCH_FEED_PAGES:-1 50 500}
FEED_LIMIT=${BENCH_FEED_LIMIT:-30}
FEED_CONNECTIONS=${BENCH_FEED_CONNECTIONS:-16}
FEED_DURATION=${BENCH_FEED_DURATION:-10s}
# The latency of the feed is measured at this offered load (the issue's throughput target), its
# throughput separately with wrk's closed loop, which always runs the machine at saturation.
FEED_RATE=${BENCH_FEED_RATE:-2000}
FEED_RATE_SECONDS=${BENCH_FEED_RATE_SECONDS:-10}
# The feed at any graph size (issue 14): the roles `being-social seed` adds for these scenarios.
CELEBRITY_FOLLOWERS=${BENCH_CELEBRITY_FOLLOWERS:-1000000}
PROLIFIC_POSTS=${BENCH_PROLIFIC_POSTS:-100000}
PULLED_FOLLOWED=${BENCH_PULLED_FOLLOWED:-100}
OUTBOX_FOLLOWERS=${BENCH_OUTBOX_FOLLOWERS:-5000}
# The server's push limit (the seed reads the same variable): pulled authors get one follower more.
PUSH_LIMIT=${FEED_PUSH_LIMIT:-10000}
# Posts per author (celebrity-post), follow + unfollow cycles per leader (prolific-follow): one
# request at a time, the authors or leaders interleaved.
WRITE_ROUNDS=${BENCH_WRITE_ROUNDS:-200}
DELIVERY_POSTS=${BENCH_DELIVERY_POSTS:-100}
DELIVERY_POLL_MS=${BENCH_DELIVERY_POLL_MS:-5}

# Targets of issue 5.
T_HOT_RPS=12000      # likes/s on one post, at least
T_HOT_P99=50         # ms, below
T_RATIO=10           # API likes/s over the naive transaction's, at least
T_PAIR_P99=20        # ms, below
T_FEED_P99=5         # ms, below, every page
T_FEED_RPS=2000      # requests/s at 16 connections, at least
T_RSS_MIB=64         # peak server RSS, below
# Targets of issue 14.
T_WRITE_RATIO=2      # p99 of the big author or leader over the small one's, at most
T_MIXED_P99=10       # ms, below, every page of the mixed viewer
T_DELIVERY_MS=1000   # ms from a post's answer to its presence on a follower's page 1, below

ALL_SCENARIOS=(hot-likes pgbench mutual-follows feed memory celebrity-post prolific-follow mixed-feed delivery storage)

# --- helpers ----------------------------------------------------------------------------------
say() { printf '\n==> %s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
psql_bench() { psql -X -q -At -v ON_ERROR_STOP=1 "$DB_URL" "$@"; }
# The value of key=... in a line of key=value pairs.
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<" $1" | head -n 1; }
# The value of "key": number in a JSON line.
jnum() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" <<<"$1" | head -n 1; }
fmt1() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
fmt2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }

RESULTS=()
# record SCENARIO FIGURE VALUE TARGET VERDICT
record() { RESULTS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"); }
# verdict VALUE OP TARGET -> PASS/FAIL (OP: ge, lt, le, eq)
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        ok = (op == "ge") ? (v + 0 >= t + 0) : (op == "lt") ? (v + 0 < t + 0) : (op == "le") ? (v + 0 <= t + 0) : (v == t);
        print ok ? "PASS" : "FAIL" }'
}

# CPU seconds used so far (utime + stime): by one process; by every PostgreSQL process (all
# databases; backends that exit in between are lost, which only matters for pgbench); by this
# shell's waited-for children (the load tool); by the whole machine (busy time of all cores).
HZ=$(getconf CLK_TCK)
proc_cpu() { awk -v hz="$HZ" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
postgres_cpu() {
    local files=() p
    for p in $(pgrep -u postgres 2>/dev/null); do files+=("/proc/$p/stat"); done
    [ ${#files[@]} -gt 0 ] || { echo 0; return; }
    awk -v hz="$HZ" '{ s += $14 + $15 } END { print s / hz }' "${files[@]}" 2>/dev/null || echo 0
}
# `times` must run in this shell (a subshell has no children yet): call children_cpu_save first.
children_cpu_save() { times >"$WORK/times.txt"; }
children_cpu() {
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' \
        "$WORK/times.txt"
}
machine_busy() { awk -v hz="$HZ" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }
CPU_MARK=()
cpu_mark() {
    children_cpu_save
    CPU_MARK=("$(now)" "$(proc_cpu "$SERVER_PID")" "$(postgres_cpu)" "$(children_cpu)" "$(machine_busy)")
}
# cpu_report SCENARIO [PREFIX]: who used the cores since cpu_mark, in % of all cores; "other" is everything
# else on the machine (another build or benchmark): well above 0, the figures are not the machine's.
# Prints a line and records a table row.
cpu_report() {
    local line
    children_cpu_save
    line=$(awk -v t0="${CPU_MARK[0]}" -v s0="${CPU_MARK[1]}" -v p0="${CPU_MARK[2]}" \
        -v c0="${CPU_MARK[3]}" -v m0="${CPU_MARK[4]}" -v t1="$(now)" -v s1="$(proc_cpu "$SERVER_PID")" \
        -v p1="$(postgres_cpu)" -v c1="$(children_cpu)" -v m1="$(machine_busy)" -v n="$(nproc)" 'BEGIN {
        w = (t1 - t0) * n; if (w <= 0) w = 1;
        srv = 100 * (s1 - s0) / w; pg = 100 * (p1 - p0) / w; tool = 100 * (c1 - c0) / w;
        busy = 100 * (m1 - m0) / w; if (busy > 100) busy = 100;
        other = busy - srv - pg - tool; if (other < 0) other = 0;
        printf "%.0f/%.0f/%.0f/%.0f/%.0f", srv, pg, tool, other, 100 - busy }')
    echo "$1: ${2:-}CPU of $(nproc) cores, server/PostgreSQL/load tool/other/idle %: $line"
    record "$1" "${2:-}CPU % server/pg/tool/other/idle" "$line" "-" "info"
}

need() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    echo "installing $package (for $tool)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get)
    "${apt[@]}" install -y "$package" >/dev/null || { "${apt[@]}" update >/dev/null && "${apt[@]}" install -y "$package" >/dev/null; } \
        || die "cannot install $package; install $tool yourself"
}

# --- scenarios to run -------------------------------------------------------------------------
SCENARIOS=()
if [ $# -eq 0 ]; then
    SCENARIOS=("${ALL_SCENARIOS[@]}")
else
    for s in "$@"; do
        case " ${ALL_SCENARIOS[*]} " in
            *" $s "*) SCENARIOS+=("$s") ;;
            *) die "unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})" ;;
        esac
    done
fi
wants() { case " ${SCENARIOS[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- tools ------------------------------------------------------------------------------------
need curl curl
need psql postgresql-client
need pgbench postgresql-client
need wrk wrk
command -v cargo >/dev/null || die "cargo is needed (https://rustup.rs)"

LOAD_START=$(loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/being-social-bench.XXXXXX")
TOKENS=$WORK/tokens.txt
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK/media" "$TOKENS"
}
trap cleanup EXIT

say "cargo build --release"
cargo build --release -p being-social -p being-social-bench
SERVER_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/being-social
DRIVER_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/being-social-bench

say "fresh database $BENCH_DB"
psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" \
    -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB" 2>&1 | grep -v NOTICE || true
max_conn=$(psql_bench -c "SHOW max_connections")
if wants pgbench && [ $((POOL_SIZE + PGBENCH_CLIENTS + 2)) -gt "$max_conn" ]; then
    die "pool ($POOL_SIZE) + pgbench clients ($PGBENCH_CLIENTS) exceed max_connections ($max_conn)"
fi
# The load comes from a handful of tokens and one address: the rate limits would refuse most of it.
export DATABASE_URL=$DB_URL RUST_LOG=warn RATE_LIMITS=off
"$SERVER_BIN" migrate

# The roles of the issue-14 scenarios, only when wanted. Their followers are the first likers;
# the followers of prolific-follow and the pairs of mutual-follows come from the end: the likers
# must cover both without overlap.
ROLE_FLAGS=()
role_followers=0
if wants celebrity-post; then
    ROLE_FLAGS+=(--celebrities 1 --celebrity-followers "$CELEBRITY_FOLLOWERS")
    role_followers=$CELEBRITY_FOLLOWERS
fi
if wants mixed-feed; then
    ROLE_FLAGS+=(--pulled-followed "$PULLED_FOLLOWED")
    [ $((PUSH_LIMIT + 1)) -le "$role_followers" ] || role_followers=$((PUSH_LIMIT + 1))
fi
wants prolific-follow && ROLE_FLAGS+=(--prolific-posts "$PROLIFIC_POSTS")
if wants delivery; then
    ROLE_FLAGS+=(--outbox-followers "$OUTBOX_FOLLOWERS")
    [ "$OUTBOX_FOLLOWERS" -le "$role_followers" ] || role_followers=$OUTBOX_FOLLOWERS
fi
needed=$((role_followers + 2 * PAIRS + WRITE_ROUNDS))
[ "$SEED_LIKERS" -ge "$needed" ] || SEED_LIKERS=$needed

say "being-social seed"
seed_started=$(now)
SEED_OUT=$("$SERVER_BIN" seed --yes-this-is-a-benchmark-database --users "$SEED_USERS" --posts "$SEED_POSTS" \
    --follows-per-user "$SEED_FOLLOWS" --heavy-follows "$SEED_HEAVY" --likers "$SEED_LIKERS" \
    "${ROLE_FLAGS[@]}" --tokens-out "$TOKENS")
echo "$SEED_OUT"
SEED_SECONDS=$(awk -v a="$seed_started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
seed_value() { sed -n "s/^$1=//p" <<<"$SEED_OUT"; }
HOT_POST=$(seed_value hot_post)
NAIVE_POST=$(seed_value naive_post)
LIKERS=$(seed_value likers)
LIKER_FIRST=${LIKERS%..*}
LIKER_LAST=${LIKERS#*..}
[ -n "$HOT_POST" ] && [ -n "$NAIVE_POST" ] && [ "$LIKER_LAST" -ge "$LIKER_FIRST" ] || die "unexpected seed output"
SEEDED_POSTS=$(seed_value posts) # ids 1..SEEDED_POSTS; the scenarios' posts come after
CELEBRITY=$(seed_value celebrities); CELEBRITY=${CELEBRITY%..*}
MODEST_AUTHOR=$(seed_value modest_author)
MIXED_VIEWER=$(seed_value mixed_viewer)
PROLIFIC_LEADER=$(seed_value prolific_leader)
MODEST_LEADER=$(seed_value modest_leader)
OUTBOX_AUTHOR=$(seed_value outbox_author)
record seed "time (all tables, tokens file)" "${SEED_SECONDS} s" "minutes" "info"
# The seed writes gigabytes (50 M feed entries); flush them now, not during the first scenario
# (whose commits would otherwise queue behind the checkpointer's writes).
psql_bench -c "CHECKPOINT" >/dev/null

say "starting the server on 127.0.0.1:$PORT (workers $WORKERS, pool $POOL_SIZE)"
BASE=http://127.0.0.1:$PORT
# Another process on the port would answer in our server's place.
if curl -s -o /dev/null --max-time 2 "$BASE/healthz"; then
    die "something already listens on port $PORT; set BENCH_PORT"
fi
mkdir -p "$WORK/media"
BIND=127.0.0.1:$PORT WORKERS=$WORKERS DATABASE_POOL_SIZE=$POOL_SIZE MEDIA_DIR=$WORK/media RATE_LIMITS=off \
    "$SERVER_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; die "the server exited"; }
    sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null && kill -0 "$SERVER_PID" 2>/dev/null || die "the server did not become ready"

# Peak RSS: VmRSS sampled every 0.2 s (VmHWM is read again at the end).
RSS_LOG=$WORK/rss.log
(
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null >>"$RSS_LOG" || true
        sleep 0.2
    done
) &
SAMPLER_PID=$!

LOAD_BEFORE=$(loadavg)
echo "load average before the scenarios: $LOAD_BEFORE ($(nproc) cores)"

# --- hot-likes --------------------------------------------------------------------------------
HOT_RPS=""
hot_likes() {
    say "hot-likes: $HOT_CONNECTIONS connections, $HOT_DURATION, every request a different user's like of post $HOT_POST"
    cpu_mark
    local out line
    out=$(wrk -t"$HOT_THREADS" -c"$HOT_CONNECTIONS" -d"$HOT_DURATION" --timeout 5s --latency \
        -s "$ROOT/bench/hot_likes.lua" "$BASE" -- "$TOKENS" "$LIKER_FIRST" "$LIKER_LAST" "$HOT_POST" "$HOT_THREADS")
    echo "$out"
    cpu_report hot-likes
    line=$(grep '^RESULT ' <<<"$out") || die "hot-likes: wrk printed no result"
    sleep 1 # answers still in flight when wrk stopped commit or roll back now
    local stored rows stamps errors wraps
    # The server stamps every like of one batch (one transaction) with the same time, so distinct
    # times count the transactions that committed the likes.
    read -r stored rows stamps < <(psql_bench -F ' ' -c \
        "SELECT likes_count, (SELECT count(*) FROM likes WHERE post_id = $HOT_POST),
                (SELECT count(DISTINCT created_at) FROM likes WHERE post_id = $HOT_POST)
         FROM posts WHERE id = $HOT_POST")
    echo "hot-likes: likes_count $stored, like rows $rows, in $stamps transactions (distinct like times)"
    HOT_RPS=$(kv "$line" rps)
    errors=$(($(kv "$line" non2xx) + $(kv "$line" connect) + $(kv "$line" read) + $(kv "$line" write) + $(kv "$line" timeout)))
    wraps=$(kv "$line" wraps)
    record hot-likes "likes/s ($HOT_CONNECTIONS conns)" "$(fmt1 "$HOT_RPS")" ">= $T_HOT_RPS" "$(verdict "$HOT_RPS" ge $T_HOT_RPS)"
    record hot-likes "p50 ms" "$(fmt2 "$(kv "$line" p50_ms)")" "-" "info"
    record hot-likes "p99 ms" "$(fmt2 "$(kv "$line" p99_ms)")" "< $T_HOT_P99" "$(verdict "$(kv "$line" p99_ms)" lt $T_HOT_P99)"
    record hot-likes "errors (non-2xx + socket)" "$errors" "0" "$(verdict "$errors" eq 0)"
    record hot-likes "likes_count vs rows" "$stored / $rows" "equal" "$(verdict "$stored" eq "$rows")"
    record hot-likes "likes per transaction (rows / distinct times)" \
        "$(awk -v r="$rows" -v t="$stamps" 'BEGIN { printf "%.1f", (t > 0 ? r / t : 0) }')" "-" "info"
    [ "$wraps" = 0 ] || record hot-likes "token slices reused (repeat likes)" "$wraps" "0" "info"
}

# --- pgbench ----------------------------------------------------------------------------------
NAIVE_TPS=""
naive_pgbench() {
    say "pgbench: the naive like transaction on post $NAIVE_POST, $PGBENCH_CLIENTS clients, ${PGBENCH_SECONDS} s"
    psql_bench -c "CHECKPOINT" >/dev/null 2>&1 || true
    local out stored rows
    out=$(pgbench -n -c"$PGBENCH_CLIENTS" -j2 -T"$PGBENCH_SECONDS" -f "$ROOT/bench/naive_like.sql" \
        -D n=0 -D post="$NAIVE_POST" -D first="$LIKER_FIRST" -D span=$((LIKER_LAST - LIKER_FIRST + 1)) \
        -D clients="$PGBENCH_CLIENTS" "$DB_URL" 2>&1)
    echo "$out"
    NAIVE_TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
    [ -n "$NAIVE_TPS" ] || die "pgbench printed no tps"
    read -r stored rows < <(psql_bench -F ' ' -c \
        "SELECT likes_count, (SELECT count(*) FROM likes WHERE post_id = $NAIVE_POST) FROM posts WHERE id = $NAIVE_POST")
    echo "pgbench: likes_count $stored, like rows $rows"
    record pgbench "naive tps (1 post, $PGBENCH_CLIENTS clients)" "$(fmt1 "$NAIVE_TPS")" "reference" "info"
}

# --- mutual-follows ---------------------------------------------------------------------------
mutual_follows() {
    local first=$((LIKER_LAST - 2 * PAIRS + 1)) last=$LIKER_LAST
    say "mutual-follows: $PAIRS pairs (users $first..$last), $PAIR_CONCURRENCY pairs in flight"
    psql_bench -c "CHECKPOINT" >/dev/null 2>&1 || true
    cpu_mark
    local out line failures both edges
    out=$("$DRIVER_BIN" mutual-follows --base-url "$BASE" --tokens "$TOKENS" \
        --first-user "$first" --pairs "$PAIRS" --concurrency "$PAIR_CONCURRENCY")
    echo "$out"
    cpu_report mutual-follows
    line=$(grep '^RESULT ' <<<"$out") || die "mutual-follows: the driver printed no result"
    failures=$(jnum "$line" failures)
    read -r both edges < <(psql_bench -F ' ' -c \
        "SELECT (SELECT count(*) FROM users WHERE id BETWEEN $first AND $last
                   AND follower_count = 1 AND following_count = 1),
                (SELECT count(*) FROM follows WHERE follower_id BETWEEN $first AND $last)")
    echo "mutual-follows: $both of $((2 * PAIRS)) users follow and are followed once; $edges follow rows"
    record mutual-follows "failures" "$failures" "0" "$(verdict "$failures" eq 0)"
    record mutual-follows "p50 ms" "$(fmt2 "$(jnum "$line" p50_ms)")" "-" "info"
    record mutual-follows "follows/s ($((2 * PAIR_CONCURRENCY)) in flight)" "$(fmt1 "$(jnum "$line" requests_per_s)")" "-" "info"
    record mutual-follows "p99 ms" "$(fmt2 "$(jnum "$line" p99_ms)")" "< $T_PAIR_P99" "$(verdict "$(jnum "$line" p99_ms)" lt $T_PAIR_P99)"
    record mutual-follows "users with 1 follower + 1 following" "$both / $((2 * PAIRS))" "all" "$(verdict "$both" eq $((2 * PAIRS)))"
    local check_out status=0
    check_out=$("$SERVER_BIN" check --counters-only 2>&1) || status=$?
    echo "being-social check: $(tail -n 1 <<<"$check_out")"
    record mutual-follows "being-social check" "$(tail -n 1 <<<"$check_out" | cut -c1-40)" "no drift" \
        "$([ "$status" = 0 ] && echo PASS || echo FAIL)"
}

# --- feed -------------------------------------------------------------------------------------
# feed_pages SCENARIO VIEWER P99_TARGET WHO: the viewer's pages measured twice each (see the docs).
feed_pages() {
    local scenario=$1 viewer=$2 t_p99=$3 who=$4
    local token1 url page body target_pages max_page walked_at
    token1=$(sed -n "${viewer}p" "$TOKENS")
    # shellcheck disable=SC2206
    target_pages=($FEED_PAGES)
    max_page=$(printf '%s\n' "${target_pages[@]}" | sort -n | tail -n 1)
    say "$scenario: user $viewer ($who); walking pages 1..$max_page of $FEED_LIMIT posts"
    # As before mutual follows: the writes of the scenarios before are flushed now, not during this one.
    psql_bench -c "CHECKPOINT" >/dev/null 2>&1 || true
    declare -A page_url=()
    url="$BASE/posts/post-feed/?limit=$FEED_LIMIT"
    walked_at=$(now)
    for page in $(seq 1 "$max_page"); do
        page_url[$page]=$url
        [ "$page" = "$max_page" ] && break
        body=$(curl -fsS -H "Authorization: Token $token1" "$url") || die "$scenario: page $page failed"
        url=$(sed -n 's/.*"next":"\([^"]*\)".*/\1/p' <<<"$body")
        [ -n "$url" ] || die "$scenario: the feed ends before page $max_page (at page $page)"
    done
    echo "$scenario: walked $max_page pages in $(awk -v a="$walked_at" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s (one curl at a time)"
    for page in "${target_pages[@]}"; do
        echo "$scenario: page $page: ${page_url[$page]}"
        # Throughput: wrk's closed loop, each connection sending its next request as soon as the
        # last one is answered. Its latency is mostly queueing (connections / throughput).
        cpu_mark
        local out line
        out=$(wrk -t2 -c"$FEED_CONNECTIONS" -d"$FEED_DURATION" --latency -s "$ROOT/bench/report.lua" \
            -H "Authorization: Token $token1" "${page_url[$page]}")
        echo "$out"
        cpu_report "$scenario" "page $page saturated "
        line=$(grep '^RESULT ' <<<"$out") || die "$scenario: wrk printed no result"
        local errors=$(($(kv "$line" non2xx) + $(kv "$line" connect) + $(kv "$line" read) + $(kv "$line" write) + $(kv "$line" timeout)))
        record "$scenario" "page $page req/s ($FEED_CONNECTIONS conns, closed loop)" "$(fmt1 "$(kv "$line" rps)")" ">= $T_FEED_RPS" "$(verdict "$(kv "$line" rps)" ge $T_FEED_RPS)"
        record "$scenario" "page $page p50/p99 ms at saturation" "$(fmt2 "$(kv "$line" p50_ms)") / $(fmt2 "$(kv "$line" p99_ms)")" "-" "info"
        [ "$errors" = 0 ] || record "$scenario" "page $page errors (closed loop)" "$errors" "0" "FAIL"
        # Latency: the same requests offered at FEED_RATE a second over the same connections.
        cpu_mark
        out=$("$DRIVER_BIN" fixed-rate --url "${page_url[$page]}" --header "Authorization: Token $token1" \
            --rate "$FEED_RATE" --connections "$FEED_CONNECTIONS" --seconds "$FEED_RATE_SECONDS")
        echo "$out"
        cpu_report "$scenario" "page $page at $FEED_RATE/s "
        line=$(grep '^RESULT ' <<<"$out") || die "$scenario: the fixed-rate driver printed no result"
        record "$scenario" "page $page p50 ms at $FEED_RATE/s" "$(fmt2 "$(jnum "$line" p50_ms)")" "-" "info"
        record "$scenario" "page $page p99 ms at $FEED_RATE/s" "$(fmt2 "$(jnum "$line" p99_ms)")" "< $t_p99" "$(verdict "$(jnum "$line" p99_ms)" lt "$t_p99")"
        errors=$(jnum "$line" errors)
        [ "$errors" = 0 ] || record "$scenario" "page $page errors (at $FEED_RATE/s)" "$errors" "0" "FAIL"
    done
}

feed() { feed_pages feed 1 "$T_FEED_P99" "follows $SEED_HEAVY users"; }

# ratio A B: A / B to one decimal (B zero: "inf").
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "inf"; else printf "%.2f", a / b }'; }

# --- celebrity-post ---------------------------------------------------------------------------
celebrity_post() {
    [ -n "$CELEBRITY" ] && [ -n "$MODEST_AUTHOR" ] || die "celebrity-post: the seed made no celebrity"
    local followers modest_followers pulled out line
    read -r followers pulled < <(psql_bench -F ' ' -c \
        "SELECT follower_count, pulled_until = '9999-12-31 23:59:59+00' FROM users WHERE id = $CELEBRITY")
    modest_followers=$(psql_bench -c "SELECT follower_count FROM users WHERE id = $MODEST_AUTHOR")
    say "celebrity-post: $WRITE_ROUNDS posts each by user $CELEBRITY ($followers followers, pulled: $pulled) and user $MODEST_AUTHOR ($modest_followers followers), in turn, one at a time"
    psql_bench -c "CHECKPOINT" >/dev/null 2>&1 || true
    cpu_mark
    out=$("$DRIVER_BIN" posts --base-url "$BASE" --tokens "$TOKENS" --rounds "$WRITE_ROUNDS" \
        --author "celebrity=$CELEBRITY" --author "modest=$MODEST_AUTHOR")
    echo "$out"
    cpu_report celebrity-post
    line=$(grep '^RESULT ' <<<"$out") || die "celebrity-post: the driver printed no result"
    local c50 c99 m50 m99 failures
    c50=$(jnum "$line" celebrity_p50_ms); c99=$(jnum "$line" celebrity_p99_ms)
    m50=$(jnum "$line" modest_p50_ms); m99=$(jnum "$line" modest_p99_ms)
    failures=$(($(jnum "$line" celebrity_failures) + $(jnum "$line" modest_failures)))
    record celebrity-post "followers: celebrity / modest author" "$followers / $modest_followers" "-" "info"
    record celebrity-post "celebrity pulled (pulled_until = 9999-12-31)" "$pulled" "t" "$(verdict "$pulled" eq t)"
    record celebrity-post "p50 ms: celebrity / modest" "$(fmt2 "$c50") / $(fmt2 "$m50")" "-" "info"
    record celebrity-post "p99 ms: celebrity / modest" "$(fmt2 "$c99") / $(fmt2 "$m99")" "-" "info"
    local r
    r=$(ratio "$c99" "$m99")
    record celebrity-post "p99 ratio celebrity / modest" "${r}x" "<= ${T_WRITE_RATIO}x" "$(verdict "$r" le $T_WRITE_RATIO)"
    record celebrity-post "failures" "$failures" "0" "$(verdict "$failures" eq 0)"
    # The rows each post's own transaction wrote: feed entries (an outbox row would be the
    # worker's cue; neither author has one). Right after the posts: nothing else writes them.
    local rows
    rows=$(psql_bench -F ' ' -c \
        "SELECT p.author_id, max(n), min(n), (SELECT count(*) FROM feed_outbox o WHERE o.author_id = p.author_id)
         FROM posts p, LATERAL (SELECT count(*) AS n FROM feed_entries e WHERE e.post_id = p.id) AS e
         WHERE p.id > $SEEDED_POSTS AND p.author_id IN ($CELEBRITY, $MODEST_AUTHOR) GROUP BY p.author_id ORDER BY p.author_id")
    echo "celebrity-post: per author: feed rows per post (max, min), outbox rows:"
    echo "$rows"
    local c_rows m_rows c_outbox
    c_rows=$(awk -v a="$CELEBRITY" '$1 == a { print $2 }' <<<"$rows")
    c_outbox=$(awk -v a="$CELEBRITY" '$1 == a { print $4 }' <<<"$rows")
    m_rows=$(awk -v a="$MODEST_AUTHOR" '$1 == a { print $2 }' <<<"$rows")
    record celebrity-post "feed rows written per post: celebrity / modest" "${c_rows:-?} / ${m_rows:-?}" "1 / $((modest_followers + 1))" \
        "$([ "${c_rows:-x}" = 1 ] && [ "${m_rows:-x}" = $((modest_followers + 1)) ] && echo PASS || echo FAIL)"
    record celebrity-post "outbox rows of the celebrity's posts" "${c_outbox:-?}" "0" "$(verdict "${c_outbox:-x}" eq 0)"
    # Read-time delivery: the celebrity's last post is on a follower's first page at once.
    local newest follower_token
    newest=$(psql_bench -c "SELECT max(id) FROM posts WHERE author_id = $CELEBRITY")
    follower_token=$(sed -n "${LIKER_FIRST}p" "$TOKENS")
    if curl -fsS -H "Authorization: Token $follower_token" "$BASE/posts/post-feed/?limit=30" | grep -q "\"id\":$newest,"; then
        record celebrity-post "celebrity's last post on a follower's page 1" "yes" "yes" "PASS"
    else
        record celebrity-post "celebrity's last post on a follower's page 1" "no" "yes" "FAIL"
    fi
}

# --- prolific-follow --------------------------------------------------------------------------
prolific_follow() {
    [ -n "$PROLIFIC_LEADER" ] && [ -n "$MODEST_LEADER" ] || die "prolific-follow: the seed made no prolific leader"
    # Fresh followers, just before the pairs of mutual-follows at the end of the likers.
    local first=$((LIKER_LAST - 2 * PAIRS - WRITE_ROUNDS + 1)) p_posts m_posts out line
    p_posts=$(psql_bench -c "SELECT post_count FROM users WHERE id = $PROLIFIC_LEADER")
    m_posts=$(psql_bench -c "SELECT post_count FROM users WHERE id = $MODEST_LEADER")
    say "prolific-follow: users $first.. each follow then unfollow user $PROLIFIC_LEADER ($p_posts posts) and user $MODEST_LEADER ($m_posts posts), in turn, one request at a time, $WRITE_ROUNDS rounds"
    psql_bench -c "CHECKPOINT" >/dev/null 2>&1 || true
    cpu_mark
    out=$("$DRIVER_BIN" follow-cycle --base-url "$BASE" --tokens "$TOKENS" --rounds "$WRITE_ROUNDS" \
        --first-follower "$first" --leader "prolific=$PROLIFIC_LEADER" --leader "modest=$MODEST_LEADER")
    echo "$out"
    cpu_report prolific-follow
    line=$(grep '^RESULT ' <<<"$out") || die "prolific-follow: the driver printed no result"
    record prolific-follow "posts: prolific / modest leader" "$p_posts / $m_posts" "-" "info"
    local action p50p p99p p50m p99m r failures=0
    for action in follow unfollow; do
        p50p=$(jnum "$line" "prolific_${action}_p50_ms"); p99p=$(jnum "$line" "prolific_${action}_p99_ms")
        p50m=$(jnum "$line" "modest_${action}_p50_ms"); p99m=$(jnum "$line" "modest_${action}_p99_ms")
        failures=$((failures + $(jnum "$line" "prolific_${action}_failures") + $(jnum "$line" "modest_${action}_failures")))
        record prolific-follow "$action p50 ms: prolific / modest" "$(fmt2 "$p50p") / $(fmt2 "$p50m")" "-" "info"
        record prolific-follow "$action p99 ms: prolific / modest" "$(fmt2 "$p99p") / $(fmt2 "$p99m")" "-" "info"
        r=$(ratio "$p99p" "$p99m")
        record prolific-follow "$action p99 ratio prolific / modest" "${r}x" "<= ${T_WRITE_RATIO}x" "$(verdict "$r" le $T_WRITE_RATIO)"
    done
    record prolific-follow "failures" "$failures" "0" "$(verdict "$failures" eq 0)"
    local left
    left=$(psql_bench -c "SELECT count(*) FROM follows WHERE follower_id BETWEEN $first AND $((first + WRITE_ROUNDS - 1))")
    record prolific-follow "follows left after the unfollows" "$left" "0" "$(verdict "$left" eq 0)"
}

# --- mixed-feed -------------------------------------------------------------------------------
mixed_feed() {
    [ -n "$MIXED_VIEWER" ] || die "mixed-feed: the seed made no mixed viewer"
    feed_pages mixed-feed "$MIXED_VIEWER" "$T_MIXED_P99" "follows $SEED_HEAVY pushed and $PULLED_FOLLOWED pulled authors"
}

# --- delivery ---------------------------------------------------------------------------------
delivery() {
    [ -n "$OUTBOX_AUTHOR" ] || die "delivery: the seed made no outbox author"
    # The follower the worker reaches last: the author's oldest follow (the seed makes the first
    # liker's the oldest), delivered in the last chunk.
    local follower=$LIKER_FIRST followers out line
    followers=$(psql_bench -c "SELECT follower_count FROM users WHERE id = $OUTBOX_AUTHOR")
    say "delivery: $DELIVERY_POSTS posts by user $OUTBOX_AUTHOR ($followers followers: outbox), one at a time; polling user $follower's page 1 every $DELIVERY_POLL_MS ms"
    psql_bench -c "CHECKPOINT" >/dev/null 2>&1 || true
    cpu_mark
    out=$("$DRIVER_BIN" delivery --base-url "$BASE" --tokens "$TOKENS" --author "$OUTBOX_AUTHOR" \
        --follower "$follower" --posts "$DELIVERY_POSTS" --poll-ms "$DELIVERY_POLL_MS")
    echo "$out"
    cpu_report delivery
    line=$(grep '^RESULT ' <<<"$out") || die "delivery: the driver printed no result"
    record delivery "followers of the author (outbox path)" "$followers" "-" "info"
    record delivery "post p99 ms (its answer)" "$(fmt2 "$(jnum "$line" post_p99_ms)")" "-" "info"
    record delivery "commit to follower's page 1: p50 ms" "$(fmt2 "$(jnum "$line" p50_ms)")" "-" "info"
    record delivery "commit to follower's page 1: p99 ms" "$(fmt2 "$(jnum "$line" p99_ms)")" "< $T_DELIVERY_MS" "$(verdict "$(jnum "$line" p99_ms)" lt $T_DELIVERY_MS)"
    record delivery "not delivered (30 s)" "$(jnum "$line" failures)" "0" "$(verdict "$(jnum "$line" failures)" eq 0)"
    # Exactly once: every follower holds each post once (the primary key would refuse a second
    # copy; a missing one shows as a count below followers + 1, the author's own).
    local short
    short=$(psql_bench -c \
        "SELECT count(*) FROM (SELECT p.id FROM posts p LEFT JOIN feed_entries e ON e.post_id = p.id
          WHERE p.author_id = $OUTBOX_AUTHOR AND p.id > $SEEDED_POSTS
          GROUP BY p.id HAVING count(e.post_id) <> $((followers + 1))) AS x")
    record delivery "posts not in every follower's feed once" "$short" "0" "$(verdict "$short" eq 0)"
}

# --- storage ----------------------------------------------------------------------------------
storage() {
    say "storage: feed_entries rows and size, rows per viewer"
    local rows viewers max_rows max_bound size db_size
    read -r rows viewers max_rows < <(psql_bench -F ' ' -c \
        "SELECT sum(n), count(*), max(n) FROM (SELECT count(*) AS n FROM feed_entries GROUP BY viewer_id) AS x")
    max_bound=$(psql_bench -c "SELECT max(entries_at_most) FROM feed_state")
    size=$(psql_bench -c "SELECT pg_size_pretty(pg_total_relation_size('feed_entries'))")
    db_size=$(psql_bench -c "SELECT pg_size_pretty(pg_database_size(current_database()))")
    local max_entries=${FEED_MAX_ENTRIES:-20000}
    echo "storage: $rows feed rows for $viewers viewers, at most $max_rows (bound $max_bound); feed_entries $size, database $db_size"
    record storage "feed_entries rows (viewers)" "$rows ($viewers)" "-" "info"
    record storage "feed_entries total size (with indexes)" "$size" "-" "info"
    record storage "database size" "$db_size" "-" "info"
    record storage "most rows of one viewer" "$max_rows" "<= $max_entries" "$(verdict "$max_rows" le "$max_entries")"
    record storage "largest entries_at_most" "$max_bound" "<= $max_entries" "$(verdict "$max_bound" le "$max_entries")"
}

# --- run --------------------------------------------------------------------------------------
SCENARIOS_STARTED=$(now)
wants hot-likes && hot_likes
wants pgbench && naive_pgbench
if [ -n "$HOT_RPS" ] && [ -n "$NAIVE_TPS" ]; then
    ratio=$(awk -v a="$HOT_RPS" -v b="$NAIVE_TPS" 'BEGIN { printf "%.1f", a / b }')
    record pgbench "ratio API / pgbench" "${ratio}x" ">= ${T_RATIO}x" "$(verdict "$ratio" ge $T_RATIO)"
fi
wants mutual-follows && mutual_follows
wants feed && feed
wants celebrity-post && celebrity_post
wants prolific-follow && prolific_follow
wants delivery && delivery
wants mixed-feed && mixed_feed
SCENARIOS_SECONDS=$(awk -v a="$SCENARIOS_STARTED" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')

# Memory: the kernel's high-water mark and the sampled peak, whichever is higher.
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
sampled=$(sort -n "$RSS_LOG" 2>/dev/null | tail -n 1)
peak_kib=$(( ${hwm:-0} > ${sampled:-0} ? ${hwm:-0} : ${sampled:-0} ))
peak_mib=$(awk -v k="$peak_kib" 'BEGIN { printf "%.1f", k / 1024 }')
echo "memory: VmHWM ${hwm:-?} KiB, sampled VmRSS peak ${sampled:-?} KiB"
record memory "peak RSS MiB (whole run)" "$peak_mib" "< $T_RSS_MIB" "$(verdict "$peak_mib" lt $T_RSS_MIB)"

LOAD_AFTER=$(loadavg)
wants storage && storage
kill -TERM "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
if grep -qiE 'error|panic' "$WORK/server.log"; then
    echo "server log (errors):"
    grep -iE 'error|panic' "$WORK/server.log" | sort | uniq -c | sort -rn | head -n 10
fi

# --- the table --------------------------------------------------------------------------------
say "results ($(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty'))"
{
    printf 'scenario\tfigure\tvalue\ttarget\tresult\n'
    printf '%s\n' "${RESULTS[@]}"
} | column -t -s $'\t'
echo
echo "machine: $(nproc) cores; load average (1/5/15 min) at start $LOAD_START, before the scenarios $LOAD_BEFORE, after $LOAD_AFTER"
echo "server: release build, $WORKERS workers, pool $POOL_SIZE, RUST_LOG=warn; scenarios took ${SCENARIOS_SECONDS} s; the load tools run on the same cores"
echo "scratch files: $WORK (server.log, rss.log)"
