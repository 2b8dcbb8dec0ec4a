//! `walfs-sim`: long simulator runs: the regression seeds first, then `--exhaustive N` small
//! workloads explored exhaustively (none by default) and `--seeds N` random seeds (10,000 by
//! default) from `--start` (or `WALFS_SIM_SEED`). `WALFS_SIM_CHECK_DETERMINISM=1` runs each seed
//! twice.
//!
//! ```text
//! cargo run -p walfs-sim --release -- --seeds 100000 [--start N] [--exhaustive N]
//! ```
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut seeds = 10_000u64;
    let mut start = walfs_sim::seeds_from_env(0, 0).start;
    let mut exhaustive = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--seeds", Some(v)) => seeds = v,
            ("--start", Some(v)) => start = v,
            ("--exhaustive", Some(v)) => exhaustive = v,
            _ => {
                eprintln!("usage: walfs-sim [--seeds N] [--start FIRST] [--exhaustive N]");
                return ExitCode::from(2);
            }
        }
    }
    let mut failed = false;
    for (kind, test) in [
        (
            walfs_sim::RegressionKind::Exhaustive,
            "exhaustive_small_workloads",
        ),
        (walfs_sim::RegressionKind::Random, "random_seeds"),
    ] {
        let summary = walfs_sim::replay_regressions(kind);
        println!("{}", summary.figures(&format!("{kind:?} regressions")));
        for violation in &summary.violations {
            println!("{}", violation.report(test));
        }
        failed |= !summary.violations.is_empty();
    }
    if exhaustive > 0 {
        let summary = walfs_sim::explore(start..start + exhaustive, 10, walfs_sim::run_exhaustive);
        println!("{}", summary.figures("exhaustive"));
        for violation in &summary.violations {
            println!("{}", violation.report("exhaustive_small_workloads"));
        }
        failed |= !summary.violations.is_empty();
    }
    let summary = walfs_sim::explore(start..start + seeds, 10, walfs_sim::run_random);
    println!("{}", summary.figures("random"));
    for violation in &summary.violations {
        println!("{}", violation.report("random_seeds"));
    }
    failed |= !summary.violations.is_empty();
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
