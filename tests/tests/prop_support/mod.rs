//! What the property-test files share: the proptest configuration that makes every failure
//! replayable.
//!
//! Each test runs from a fixed RNG seed: the one in `PROPTEST_RNG_SEED` if set, a fresh one
//! otherwise. The seed and the command that replays the whole run are printed to stderr, which
//! `cargo test` shows only for a failing test. Failing cases are also persisted, shrunk, next to
//! the test file (`tests/tests/<target>.regressions`, one `cc <seed>` line each) and are replayed
//! first by every later run; commit that file to keep a regression test.

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// The configuration of one property test in test target `target`: `cases` cases by default
/// (`PROPTEST_CASES` overrides it), a printed RNG seed, failures persisted next to the source.
pub fn config(target: &str, test: &str, cases: u32) -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or_else(fresh_seed);
    eprintln!(
        "{test}: proptest RNG seed {seed}; replay this run with\n  \
         PROPTEST_RNG_SEED={seed} cargo test -p walfs-tests --test {target} -- --exact {test}\n\
         (shrunk failures are also saved in tests/tests/{target}.regressions and replayed first)"
    );
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    }
}

/// A seed that differs between runs, without a random-number crate: std's randomly keyed hasher
/// over the clock.
fn fresh_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}
