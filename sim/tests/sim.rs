//! The simulator's CI runs: exhaustive small workloads and random seeds, 0 violations expected.

use walfs_sim::{explore, run_exhaustive, run_random, seeds_from_env};

/// Random seeds in CI (the `walfs-sim` binary runs more).
const RANDOM_SEEDS_CI: u64 = 1_000;
/// Small workloads explored exhaustively in CI.
const EXHAUSTIVE_WORKLOADS_CI: u64 = 40;

fn check(summary: &walfs_sim::Summary, label: &str, test: &str) {
    println!("{}", summary.figures(label));
    for violation in &summary.violations {
        println!("{}", violation.report(test));
    }
    assert!(
        summary.violations.is_empty(),
        "walfs-sim found violations (see above)"
    );
}

#[test]
fn random_seeds() {
    let summary = explore(seeds_from_env(0, RANDOM_SEEDS_CI), 3, run_random);
    check(&summary, "random", "random_seeds");
}

#[test]
fn exhaustive_small_workloads() {
    let summary = explore(
        seeds_from_env(0, EXHAUSTIVE_WORKLOADS_CI),
        3,
        run_exhaustive,
    );
    check(&summary, "exhaustive", "exhaustive_small_workloads");
}
