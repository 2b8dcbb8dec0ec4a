//! The simulator's CI runs: the regression seeds (every seed that ever failed, from
//! `regressions.txt`) first, then exhaustive small workloads and random seeds, 0 violations
//! expected; and a determinism check of a few seeds.

use walfs_sim::{
    RegressionKind, explore, explore_runs, replay_regressions, run_exhaustive, run_random,
    run_twice, seeds_from_env,
};

/// Random seeds in CI (the `walfs-sim` binary runs more).
const RANDOM_SEEDS_CI: u64 = 1_000;
/// Small workloads explored exhaustively in CI.
const EXHAUSTIVE_WORKLOADS_CI: u64 = 40;
/// Seeds of each kind run twice by the determinism check in CI.
const DETERMINISM_SEEDS_CI: u64 = 50;

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
fn regressions_file_parses() {
    let regressions = walfs_sim::regressions().expect("regressions.txt parses");
    assert!(regressions.iter().any(|r| r.kind == RegressionKind::Random));
    assert!(
        regressions
            .iter()
            .any(|r| r.kind == RegressionKind::Exhaustive)
    );
    assert!(regressions.iter().all(|r| !r.note.is_empty()));
}

#[test]
fn random_seeds() {
    let replayed = replay_regressions(RegressionKind::Random);
    check(&replayed, "random regressions", "random_seeds");
    let summary = explore(seeds_from_env(0, RANDOM_SEEDS_CI), 3, run_random);
    check(&summary, "random", "random_seeds");
}

#[test]
fn exhaustive_small_workloads() {
    let replayed = replay_regressions(RegressionKind::Exhaustive);
    check(
        &replayed,
        "exhaustive regressions",
        "exhaustive_small_workloads",
    );
    let summary = explore(
        seeds_from_env(0, EXHAUSTIVE_WORKLOADS_CI),
        3,
        run_exhaustive,
    );
    check(&summary, "exhaustive", "exhaustive_small_workloads");
}

/// What `WALFS_SIM_CHECK_DETERMINISM=1` does, always on for a few seeds: each runs twice and the
/// hashes of the operation and fault traces and final durable images must agree.
#[test]
fn seeds_are_deterministic() {
    let random = explore_runs(0..DETERMINISM_SEEDS_CI, 3, |seed| {
        run_twice(seed, run_random)
    });
    check(
        &random,
        "determinism (random, run twice)",
        "seeds_are_deterministic",
    );
    let exhaustive = explore_runs(0..DETERMINISM_SEEDS_CI / 10, 3, |seed| {
        run_twice(seed, run_exhaustive)
    });
    check(
        &exhaustive,
        "determinism (exhaustive, run twice)",
        "seeds_are_deterministic",
    );
}
