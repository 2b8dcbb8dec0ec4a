#!/usr/bin/env bash
# Runs every check of the walfs workspace, the same ones CI runs, and installs what they need.
# Usage: scripts/test-all.sh        (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: thumbv7em target, nightly Miri, the MSRV (Cargo.toml's rust-version)"
rustup target add thumbv7em-none-eabihf >/dev/null
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal >/dev/null
fi
rustup +nightly component add miri rust-src >/dev/null
msrv="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)"
if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$msrv" --profile minimal >/dev/null
fi

step "format"
cargo fmt --all -- --check

step "walfs takes its sync types from its loom facade (std-backend/src/sync.rs) only"
if grep -rn "std::sync::" std-backend/src --include=*.rs | grep -v "^std-backend/src/sync.rs:"; then
  echo "std::sync used outside std-backend/src/sync.rs" >&2
  exit 1
fi

step "SPEC §14: every Go test of the checklist has a test naming it"
scripts/spec14-coverage.sh

step "the workspace builds with its MSRV, Rust $msrv"
CARGO_TARGET_DIR=target/msrv cargo "+$msrv" check --workspace --all-targets --quiet

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "walfs-core builds for a Cortex-M4 without std or alloc, and with alloc"
cargo build -p walfs-core --target thumbv7em-none-eabihf --no-default-features
cargo build -p walfs-core --target thumbv7em-none-eabihf --no-default-features --features alloc

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "Miri: walfs-core's tests"
MIRIFLAGS="${MIRIFLAGS:--Zmiri-strict-provenance}" cargo +nightly miri test -p walfs-core --features alloc

step "Miri: the hardware CRC-32C paths (SSE4.2 crc32 chain, three chains merged with PCLMULQDQ: the core's only unsafe code)"
RUSTFLAGS="-C target-feature=+sse4.2,+pclmulqdq" CARGO_TARGET_DIR=target/miri-sse42 \
  cargo +nightly miri test -p walfs-core --lib crc

step "Miri: the AVX-512 VPCLMULQDQ fold path of the CRC-32C, and its copying form"
RUSTFLAGS="-C target-feature=+sse4.2,+pclmulqdq,+avx512f,+vpclmulqdq" CARGO_TARGET_DIR=target/miri-avx512 \
  cargo +nightly miri test -p walfs-core --lib crc::hw

step "examples (release): quick start, batch, tailing, tailing from a checkpoint, demo"
for example in std-backend/examples/*.rs; do
  name="$(basename "$example" .rs)"
  printf -- '--- example %s\n' "$name"
  cargo run --release --quiet -p walfs --example "$name"
done

step "loom: walfs' concurrency protocols (publication, pins, deletion, rotation hand-off)"
RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test -p walfs --release --lib

step "walfs-sim: regression seeds, exhaustive small workloads, 1,000 random crash seeds, determinism (release)"
cargo test -p walfs-sim --release -- --nocapture

step "walfs-sim negative controls: each durability barrier switched off must be caught (release)"
RUSTFLAGS="--cfg walfs_negative_controls" CARGO_TARGET_DIR=target/negctl \
  cargo test -p walfs-sim --release --test negative_controls -- --nocapture

step "benches compile (walfs-benches, criterion)"; cargo bench -p walfs-benches --no-run
step "tests: unit, Go fixtures, property tests"
cargo test --workspace

step "qemu-system-arm for the Cortex-M4 steps"
if ! command -v qemu-system-arm >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends qemu-system-arm >/dev/null
fi

step "walfs-core's footprint on a Cortex-M4 (flash and peak stack per CRC table, budget 24 KiB / 4 KiB)"
scripts/footprint.sh

step "walfs-core on an emulated Cortex-M4: QEMU mps2-an386 checks (core/qemu)"
(
  cd core/qemu
  cargo fmt -- --check
  cargo clippy --all-targets -- -D warnings
  timeout 900 cargo test --release
)
