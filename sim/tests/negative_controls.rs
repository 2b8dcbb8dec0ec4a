//! Negative controls (issue #4): each durability barrier of the engine is switched off in turn,
//! and the simulator must find a violation within a bounded number of seeds. A barrier without
//! a failing control is not proven.
//!
//! Compiled only with `--cfg walfs_negative_controls` (the switches do not exist otherwise):
//!
//! ```text
//! RUSTFLAGS="--cfg walfs_negative_controls" CARGO_TARGET_DIR=target/negctl \
//!     cargo test -p walfs-sim --release --test negative_controls -- --nocapture
//! ```
//!
//! One test only: the switch is process-wide.
#![cfg(walfs_negative_controls)]

use walfs_core::barrier::{self, Barrier};
use walfs_sim::{Summary, Violation, explore_runs, run_exhaustive, run_random};

/// Random seeds tried per barrier before the control counts as not caught.
const RANDOM_SEEDS_MAX: u64 = 4_000;
/// One exhaustive small workload is tried after every this many random seeds.
const RANDOM_PER_EXHAUSTIVE: u64 = 16;

/// What caught a control.
struct Caught {
    /// `random_seeds` or `exhaustive_small_workloads`.
    test: &'static str,
    /// The run that found it.
    run: RunFn,
    violation: Violation,
    /// Runs before and including the failing one.
    runs: u64,
    /// Crash states checked before the violation, the failing run's included.
    crash_states: u64,
}

/// A simulator run of one seed.
type RunFn = fn(u64) -> Result<walfs_sim::Stats, Violation>;

fn one_seed(seed: u64, run: RunFn) -> Summary {
    explore_runs(seed..seed + 1, 1, run)
}

/// Runs random seeds and, interleaved, exhaustive small workloads until one finds a violation.
fn hunt() -> Option<Caught> {
    let mut crash_states = 0;
    let mut runs = 0;
    for seed in 0..RANDOM_SEEDS_MAX {
        let mut tries: Vec<(&'static str, u64, RunFn)> = vec![("random_seeds", seed, run_random)];
        if seed % RANDOM_PER_EXHAUSTIVE == 0 {
            tries.push((
                "exhaustive_small_workloads",
                seed / RANDOM_PER_EXHAUSTIVE,
                run_exhaustive,
            ));
        }
        for (test, seed, run) in tries {
            let mut summary = one_seed(seed, run);
            runs += 1;
            crash_states += summary.stats.crash_states;
            if let Some(violation) = summary.violations.pop() {
                crash_states += violation.crash_states;
                return Some(Caught {
                    test,
                    run,
                    violation,
                    runs,
                    crash_states,
                });
            }
        }
    }
    None
}

#[test]
fn every_barrier_off_is_caught() {
    let mut not_caught = Vec::new();
    let mut engine_bugs = Vec::new();
    for barrier in Barrier::ALL {
        barrier::restore_all();
        barrier::skip(barrier);
        let started = std::time::Instant::now();
        let caught = hunt();
        barrier::restore_all();
        let seconds = started.elapsed().as_secs_f64();
        if let Some(caught) = caught {
            let violation = &caught.violation;
            println!(
                "negative control {barrier:?}: caught by {} seed {} after {} runs, {} crash \
                     states, {seconds:.1} s: {}",
                caught.test,
                violation.seed,
                caught.runs,
                caught.crash_states,
                violation.message.lines().next().unwrap_or("")
            );
            // The same seed passes with the barrier back on: the control, not an engine bug,
            // made it fail.
            let again = one_seed(violation.seed, caught.run);
            if let Some(other) = again.violations.first() {
                println!("{}", other.report(caught.test));
                engine_bugs.push(barrier);
            }
        } else {
            println!(
                "negative control {barrier:?}: NOT caught in {RANDOM_SEEDS_MAX} random seeds \
                     and {} exhaustive workloads ({seconds:.1} s)",
                RANDOM_SEEDS_MAX / RANDOM_PER_EXHAUSTIVE
            );
            not_caught.push(barrier);
        }
    }
    assert!(
        engine_bugs.is_empty(),
        "the seeds that caught {engine_bugs:?} fail with every barrier on too (see above)"
    );
    assert!(
        not_caught.is_empty(),
        "barriers switched off without the simulator noticing: {not_caught:?}"
    );
}
