//! `walfs`: the command-line tool of the walfs write-ahead log (feature `cli`).
//!
//! - `walfs inspect DIR [--ext .wal] [--json]`: one row per segment, then totals.
//! - `walfs verify DIR`: checks every record of every segment; exit status 0 clean, 1 torn tail
//!   only, 2 corruption, 3 cannot read.
//! - `walfs dump DIR [--from SEGMENT:OFFSET] [--limit N] [--format jsonl|hex|raw]`: one line per
//!   record.
//! - `walfs tail DIR [-n N] [--follow]`: the last records, then new ones as they are appended.
//! - `walfs bench [--dir D] [--size BYTES] [--count N] [--sync none|every|BYTES] [--threads T]`.
//!
//! inspect, verify, dump and tail open the directory read-only: no lock, no byte changed, so they
//! work on a log another process is writing, and on directories written by the Go original.
//! Errors are one line on standard error naming the file and the problem; bad arguments exit
//! with 64.

// A binary crate's root resolves modules beside it, not in `walfs/`.
#[path = "walfs/bench.rs"]
mod bench;
#[path = "walfs/common.rs"]
mod common;
#[path = "walfs/dump.rs"]
mod dump;
#[path = "walfs/inspect.rs"]
mod inspect;
#[path = "walfs/verify.rs"]
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use common::{EXIT_USAGE, Failure};

/// Inspect, verify, dump, tail and benchmark walfs write-ahead logs (and Go walfs ones).
#[derive(Debug, Parser)]
#[command(name = "walfs", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One row per segment (state, records, bytes used, log indexes, times), then totals.
    Inspect(inspect::Args),
    /// Read every record of every segment; exit 0 clean, 1 torn tail, 2 corruption, 3 cannot read.
    Verify(verify::Args),
    /// Print records, one line each (jsonl, hex or raw).
    Dump(dump::DumpArgs),
    /// Print the last records, and with --follow new ones as they are appended.
    Tail(dump::TailArgs),
    /// Append records, read them back, print throughput and latency percentiles.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown cause");
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "walfs: internal error{place}: {}",
            message.replace('\n', " ")
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version print to standard output and succeed.
            let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let result = match &cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Dump(args) => dump::run_dump(args),
        Command::Tail(args) => dump::run_tail(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, message }) => {
            if !message.is_empty() {
                eprintln!("walfs: {}", message.replace('\n', " "));
            }
            ExitCode::from(code)
        }
    }
}
