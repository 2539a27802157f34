# Being Social: everyday commands. `just` alone lists them.
# Install just with `pip install rust-just` (or `cargo install just`).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Serve the API (SQLite in data/ by default; set DATABASE_URL=postgres://... for PostgreSQL).
run *ARGS:
    cargo run -p being-social -- {{ARGS}}

# Every test of the workspace (the PostgreSQL suites need DATABASE_URL, as in .ci/run).
test *ARGS:
    cargo test --workspace {{ARGS}}

# What CI checks besides the tests: formatting and clippy with warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Everything CI runs (PostgreSQL, fmt, clippy, tests), as CI runs it.
check:
    ./.ci/run

# The headless-browser tests of /docs and the web app (installs chromium and the npm packages if
# missing; screenshots in target/browser-screenshots/).
browser:
    ./scripts/browser-test.sh

# Schemathesis against the running server's /openapi.json (MAX_EXAMPLES per operation, default 20).
fuzz:
    ./scripts/fuzz.sh

# Compare every stored counter with its rows in DATABASE_URL (`--repair` to fix them).
counters *ARGS:
    cargo run -p being-social -- check {{ARGS}}

# The benchmark of docs/benchmarks.md: hot-likes, pgbench, mutual-follows, feed, memory,
# celebrity-post, prolific-follow, mixed-feed, delivery, storage (none: all); uploads (only named).
bench *SCENARIOS:
    ./scripts/bench.sh {{SCENARIOS}}
