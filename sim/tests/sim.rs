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

/// The determinism check fails a seed whose two runs differ.
#[test]
fn determinism_check_catches_a_run_that_differs() {
    let calls = std::cell::Cell::new(0u64);
    let outcome = run_twice(7, |_| {
        calls.set(calls.get() + 1);
        Ok(walfs_sim::Stats {
            trace_hash: calls.get(),
            ..walfs_sim::Stats::default()
        })
    });
    let violation = outcome.expect_err("two different runs of seed 7");
    assert_eq!(violation.seed, 7);
    assert!(violation.message.contains("not deterministic"));
}

/// Found by the 100,000-seed run (seeds 1635, 2551, 3809, 4183, 5486): a truncation into a
/// sealed segment left the segment's index file from that seal in place. When the segment was
/// sealed again with the same record count and end but other record lengths, and the rename of
/// the new index file did not survive a crash, open trusted the stale one: log indexes mapped
/// to positions inside other records. The truncation now invalidates the index file durably
/// before it unseals the segment.
#[test]
fn stale_index_file_of_a_truncated_segment_is_never_trusted() {
    use walfs_core::wal::{WalEngine, WalOptions};
    use walfs_sim::SimStorage;
    use walfs_sim::storage::SectorFate;

    let options = WalOptions {
        segment_size: 4096,
        ..WalOptions::default()
    };
    let storage = SimStorage::new();
    let (mut wal, _) = WalEngine::open(storage.clone(), options).expect("open");
    // Segment 1 sealed with [0 bytes, 3000 bytes]: its index file says 64, 80.
    wal.append(&[], 1).expect("append");
    wal.append(&[7; 3000], 2).expect("append");
    wal.rotate().expect("rotate");
    // Truncate into it (unsealing it), then write [3000 bytes, 0 bytes]: same count, same end.
    wal.truncate_after(0).expect("truncate");
    let first = wal.append(&[9; 3000], 5).expect("append");
    let second = wal.append(&[], 6).expect("append");
    // Seal it again; the crash keeps every byte but loses the directory operations not yet
    // synced, among them the rename of the new index file.
    storage.record_every_event(true);
    wal.rotate().expect("rotate");
    storage.record_every_event(false);
    drop(wal);
    let recorded = storage.take_recorded();
    for (event, disk) in &recorded {
        let mut crashed = disk.clone();
        crashed.crash_with(|_, _| SectorFate::Written, |_| false);
        let (mut wal, _) = WalEngine::open(SimStorage::from_disk(crashed), options)
            .unwrap_or_else(|e| panic!("open after event {event}: {e}"));
        for (log_index, position) in [(5, first), (6, second)] {
            assert_eq!(
                wal.position_for_index(log_index).ok(),
                Some(position),
                "log index {log_index} after a crash at event {event}"
            );
            wal.read(position)
                .unwrap_or_else(|e| panic!("read {position:?} after event {event}: {e}"));
        }
    }
}
