#!/usr/bin/env bash
# Runs walfs' benches (criterion, --quick: under 10 minutes on 2 cores) and prints the markdown
# table of every bench with its ratio to the floor measured in the same run.
# Usage: scripts/bench-table.sh [--readme] [--table-only]
#   --readme      also write the table into README.md's "## Benchmarks" section
#   --table-only  skip the benches, print the table of the last run
# WALFS_BENCH_RECOVER_MIB scales the recovery bench's WAL (default 1024); WALFS_BENCH_DIR sets
# where bench files go (default: the temporary directory; it must be on a real disk).
set -euo pipefail
cd "$(dirname "$0")/.."

run=1
table_args=()
for arg in "$@"; do
  case "$arg" in
    --readme) table_args+=(--readme README.md) ;;
    --table-only) run=0 ;;
    *) echo "usage: $0 [--readme] [--table-only]" >&2; exit 2 ;;
  esac
done

if [ "$run" -eq 1 ]; then
  rm -rf "${CARGO_TARGET_DIR:-target}/criterion"
  mkdir -p "${CARGO_TARGET_DIR:-target}/criterion"
  # How busy the machine was when the run started, for the table's header.
  cp /proc/loadavg "${CARGO_TARGET_DIR:-target}/criterion/loadavg" 2>/dev/null || true
  cargo bench -p walfs-benches -- --quick >&2
fi
cargo run --quiet --release -p walfs-benches --bin bench-table -- "${table_args[@]}"
