//! Prints walfs' benchmark table (markdown) from criterion's results, each bench with its ratio
//! to the floor measured in the same run; `--readme PATH` also writes it into the file's
//! `## Benchmarks` section (inserted before `## Development` when missing).
//!
//! Usage: `bench-table [--criterion DIR] [--readme PATH]`, after
//! `cargo bench -p walfs-benches -- --quick` (`scripts/bench-table.sh` runs both).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One measured bench: time per iteration and bytes per iteration.
#[derive(Debug, Clone, Copy)]
struct Measured {
    ns: f64,
    bytes: Option<f64>,
}

/// How a bench compares with its floor.
#[derive(Debug, Clone, Copy)]
enum Per {
    /// Time per byte (the bench and the floor may move different sizes per iteration).
    Byte,
    /// Time per iteration (one record against one fdatasync).
    Op,
}

/// A row of the table.
struct Row {
    /// Criterion id, or a prefix ending in `/` (the first match).
    id: &'static str,
    /// The Go original's row and latency (Apple M2 Pro), if it has one.
    go: &'static str,
    baseline: &'static str,
    per: Per,
}

const ROWS: &[Row] = &[
    row(
        "append/write_nosync/16",
        "16B write 63.27 ns",
        "floor/memcpy_crc32c/16",
        Per::Byte,
    ),
    row(
        "append/write_nosync/1024",
        "1KB write 395.3 ns",
        "floor/memcpy_crc32c/1024",
        Per::Byte,
    ),
    row(
        "append/write_nosync/unprepared/1024",
        "",
        "floor/memcpy_crc32c/1024",
        Per::Byte,
    ),
    row(
        "append/write_nosync/paired/1024",
        "",
        "floor/memcpy_crc32c/1024",
        Per::Byte,
    ),
    row(
        "append/write_nosync/32768",
        "32KB write 9.3 µs",
        "floor/memcpy_crc32c/32768",
        Per::Byte,
    ),
    row(
        "append/write_nosync/65536",
        "64KB write 16.6 µs",
        "floor/memcpy_crc32c/65536",
        Per::Byte,
    ),
    row(
        "append/write_nosync/524288",
        "512KB write 122.8 µs",
        "floor/memcpy_crc32c/524288",
        Per::Byte,
    ),
    row(
        "append/batch_64x1KiB/batch",
        "",
        "floor/memcpy_crc32c/1024",
        Per::Byte,
    ),
    row(
        "append/write_across_rotation/1024",
        "",
        "floor/memcpy_crc32c/1024",
        Per::Byte,
    ),
    row(
        "append/concurrent/writers_2/1024",
        "Concurrent Write (2) 766.3 ns",
        "floor/memcpy_crc32c/1024",
        Per::Byte,
    ),
    row(
        "append/concurrent/readers_4_writers_4/1024",
        "Concurrent R/W (8) 215.1 ns",
        "floor/memcpy_crc32c/1024",
        Per::Byte,
    ),
    row(
        "read/direct/16",
        "16B Direct Read 5.25 ns",
        "floor/memcpy/16",
        Per::Byte,
    ),
    row(
        "read/direct/1024",
        "1KB Direct Read 5.25 ns",
        "floor/memcpy/1024",
        Per::Byte,
    ),
    row(
        "read/direct/524288",
        "512KB Direct Read 5.26 ns",
        "floor/memcpy/524288",
        Per::Byte,
    ),
    row(
        "read/sequential/1024",
        "1KB Sequential Read 1.0 µs",
        "floor/memcpy/1024",
        Per::Byte,
    ),
    row(
        "read/sequential/524288",
        "512KB Sequential Read 547.0 ns",
        "floor/memcpy/524288",
        Per::Byte,
    ),
    row(
        "sync/write_sync/1024",
        "1KB SyncAfterWrite 44,687 ns",
        SYNC_FLOOR,
        Per::Op,
    ),
    row(
        "sync/write_sync/32768",
        "32KB SyncAfterWrite 65,278 ns",
        SYNC_FLOOR,
        Per::Op,
    ),
    row(
        "sync/write_sync/65536",
        "64KB SyncAfterWrite 86,395 ns",
        SYNC_FLOOR,
        Per::Op,
    ),
    row("sync/group_commit/threads/1", "", SYNC_FLOOR, Per::Op),
    row("sync/group_commit/threads/2", "", SYNC_FLOOR, Per::Op),
    row("sync/group_commit/threads/4", "", SYNC_FLOOR, Per::Op),
    row("sync/group_commit/threads/8", "", SYNC_FLOOR, Per::Op),
    row("recover/open/", "", "recover/crc32c/16MiB", Per::Byte),
    row("recover/open/", "", "recover/map_crc32c/16MiB", Per::Op),
    row(
        "recover/open_verify_sealed/",
        "",
        "recover/crc32c/16MiB",
        Per::Byte,
    ),
];

const SYNC_FLOOR: &str = "floor/fdatasync_4k/pwrite_overwrite";

const fn row(id: &'static str, go: &'static str, baseline: &'static str, per: Per) -> Row {
    Row {
        id,
        go,
        baseline,
        per,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut criterion = walfs_benches::criterion_dir();
    let mut readme = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--criterion" => criterion = args.next().expect("--criterion DIR").into(),
            "--readme" => readme = Some(PathBuf::from(args.next().expect("--readme PATH"))),
            other => {
                eprintln!("usage: bench-table [--criterion DIR] [--readme PATH] (got {other:?})");
                std::process::exit(2);
            }
        }
    }
    let results = load(&criterion);
    if results.is_empty() {
        eprintln!("no criterion results under {}", criterion.display());
        std::process::exit(1);
    }
    let section = render(&results, &criterion);
    print!("{section}");
    if let Some(path) = readme {
        let text = std::fs::read_to_string(&path).expect("read the README");
        std::fs::write(&path, splice(&text, &section)).expect("write the README");
        eprintln!("wrote the table into {}", path.display());
    }
}

/// Every `new/benchmark.json` under `dir` with its `new/estimates.json`, by full id.
fn load(dir: &Path) -> BTreeMap<String, Measured> {
    let mut results = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name == "new") {
                    if let Some((id, measured)) = read_bench(&path) {
                        results.insert(id, measured);
                    }
                } else {
                    stack.push(path);
                }
            }
        }
    }
    results
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The full id and the per-iteration time (criterion's slope estimate when it has one, as it
/// prints, else the mean) of one result directory.
fn read_bench(new: &Path) -> Option<(String, Measured)> {
    let bench = read_json(&new.join("benchmark.json"))?;
    let estimates = read_json(&new.join("estimates.json"))?;
    let id = bench.get("full_id")?.as_str()?.to_owned();
    let point = |name: &str| estimates.get(name)?.get("point_estimate")?.as_f64();
    let ns = point("slope").or_else(|| point("mean"))?;
    let bytes = bench
        .get("throughput")
        .and_then(|t| t.get("Bytes"))
        .and_then(Value::as_f64);
    Some((id, Measured { ns, bytes }))
}

fn find<'a>(results: &'a BTreeMap<String, Measured>, id: &str) -> Option<(&'a str, Measured)> {
    if id.ends_with('/') {
        results
            .iter()
            .find(|(key, _)| key.starts_with(id))
            .map(|(key, m)| (key.as_str(), *m))
    } else {
        results.get_key_value(id).map(|(key, m)| (key.as_str(), *m))
    }
}

fn ratio(bench: Measured, floor: Measured, per: Per) -> Option<f64> {
    match per {
        Per::Op => Some(bench.ns / floor.ns),
        Per::Byte => Some((bench.ns / bench.bytes?) / (floor.ns / floor.bytes?)),
    }
}

fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn throughput(m: Measured) -> String {
    m.bytes.map_or_else(String::new, |bytes| {
        let per_second = bytes / m.ns * 1e9;
        if per_second >= f64::from(1u32 << 30) {
            format!("{:.2} GiB/s", per_second / f64::from(1u32 << 30))
        } else {
            format!("{:.1} MiB/s", per_second / f64::from(1u32 << 20))
        }
    })
}

fn machine(criterion: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
    // The run shares the machine with whatever else runs: say how busy it was when it started
    // (`scripts/bench-table.sh` saves it next to the results).
    let load = std::fs::read_to_string(criterion.join("loadavg")).map_or_else(
        |_| "not recorded".to_owned(),
        |l| l.split(' ').take(3).collect::<Vec<_>>().join(" "),
    );
    format!(
        "{cores} cores ({cpu}), Linux {kernel}; load average (1, 5, 15 min) when the run started: {load}"
    )
}

/// The README section: heading, how it was made, the table, the floors and the targets.
fn render(results: &BTreeMap<String, Measured>, criterion: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Benchmarks\n");
    let _ = writeln!(
        out,
        "Machine: {}. Command: `scripts/bench-table.sh --readme` \
         (`cargo bench -p walfs-benches -- --quick`, then this table), sources in \
         [`benches/benches/`](benches/benches). `--quick` takes two samples per bench, so expect \
         ±10-20 % between runs, more when the machine is busy. Every ratio is to a floor measured \
         in the same run: memcpy of the payload into a mapped, prefaulted file (+ CRC-32C of the \
         same bytes for writes), one fdatasync of a 4 KiB dirty page for durable writes, CRC-32C \
         of the bytes it must check for recovery. The Go column quotes the Go original's table \
         (Apple M2 Pro, another machine: compare ratios, not times).\n",
        machine(criterion)
    );
    let _ = writeln!(
        out,
        "| bench | time/op | throughput | baseline | ratio | Go original |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | --- | ---: | --- |");
    for row in ROWS {
        let Some((id, bench)) = find(results, row.id) else {
            continue;
        };
        let (baseline, ratio) = find(results, row.baseline).map_or_else(
            || ("(not run)".to_owned(), String::new()),
            |(floor_id, floor)| {
                let per = match row.per {
                    Per::Byte => "per byte",
                    Per::Op => "per op",
                };
                let ratio =
                    ratio(bench, floor, row.per).map_or_else(String::new, |r| format!("{r:.2}x"));
                (format!("`{floor_id}` ({per})"), ratio)
            },
        );
        let _ = writeln!(
            out,
            "| `{id}` | {} | {} | {baseline} | {ratio} | {} |",
            time(bench.ns),
            throughput(bench),
            row.go
        );
    }
    let _ = writeln!(
        out,
        "\nWrite rows time appends inside one segment (rotation runs between timed chunks); \
         `write_across_rotation` times rotation too (sealing syncs the full segment); \
         `write_nosync/paired` times each step of 256 appends followed by 256 copies and CRCs of \
         the payload, for the 1 KiB target (see the targets below). Reads verify \
         each record's CRC-32C and return a zero-copy view; the Go original's reads check no CRC. \
         Durable rows are per record against one fdatasync; `group_commit/threads/N` has N threads \
         each appending 1 KiB and calling `Wal::sync`. Recovery opens a warm (page-cached) WAL; \
         `recover/open` counts the active segment's frames as the bytes it checks, \
         `open_verify_sealed` every frame; its second row reads it against mapping the active \
         segment (populating its pages) and checking all of it on one thread."
    );
    let _ = writeln!(out, "\nFloors:\n");
    let _ = writeln!(out, "| floor | time/op | throughput |");
    let _ = writeln!(out, "| --- | ---: | ---: |");
    for (id, measured) in results {
        if id.starts_with("floor/")
            || id.starts_with("recover/crc32c")
            || id.starts_with("recover/map_crc32c")
        {
            let _ = writeln!(
                out,
                "| `{id}` | {} | {} |",
                time(measured.ns),
                throughput(*measured)
            );
        }
    }
    let _ = writeln!(out, "\nTargets (issue 5):\n");
    for line in targets(results, paired_write(criterion).as_ref()) {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    out
}

fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "**misses**" }
}

/// The paired 1 KiB write's summary (`append/write_nosync/paired`): its steps' ratio
/// quartiles, the step count and its records per step.
struct PairedWrite {
    quartiles: [f64; 3],
    steps: u64,
    step_records: u64,
    /// Step medians of the time per record of the appends, the copies and the CRCs (ns).
    ns_per_record: [f64; 3],
}

fn paired_write(criterion: &Path) -> Option<PairedWrite> {
    let json = read_json(&criterion.join(walfs_benches::PAIRED_WRITE_FILE))?;
    let quartiles = json.get("ratio_quartiles")?.as_array()?;
    let q = |i: usize| quartiles.get(i)?.as_f64();
    let ns = json.get("ns_per_record")?;
    Some(PairedWrite {
        quartiles: [q(0)?, q(1)?, q(2)?],
        steps: json.get("steps")?.as_u64()?,
        step_records: json.get("step_records")?.as_u64()?,
        ns_per_record: [
            ns.get("appends")?.as_f64()?,
            ns.get("memcpy")?.as_f64()?,
            ns.get("crc32c")?.as_f64()?,
        ],
    })
}

fn targets(results: &BTreeMap<String, Measured>, paired: Option<&PairedWrite>) -> Vec<String> {
    let mut lines = Vec::new();
    let get = |id: &str| find(results, id).map(|(_, m)| m);
    if let Some(paired) = paired {
        let [q1, median, q3] = paired.quartiles;
        let [appends, memcpy, crc] = paired.ns_per_record;
        lines.push(format!(
            "1 KiB no-sync write ≤ 1.5x (memcpy + CRC-32C of 1 KiB, measured apart), each step of \
             {} appends against as many copies and CRCs timed right after it \
             (`append/write_nosync/paired`): median {median:.2}x over {} steps (quartiles \
             {q1:.2}x-{q3:.2}x; per record {appends:.1} ns against {memcpy:.1} + {crc:.1} ns), {}",
            paired.step_records,
            paired.steps,
            verdict(median <= 1.5)
        ));
    }
    if let (Some(write), Some(memcpy), Some(crc)) = (
        get("append/write_nosync/1024"),
        get("floor/memcpy/1024"),
        get("floor/crc32c/1024"),
    ) {
        let r = write.ns / (memcpy.ns + crc.ns);
        lines.push(format!(
            "1 KiB no-sync write against the floor benches, which run a minute later: {r:.2}x, {}",
            verdict(r <= 1.5)
        ));
    }
    if let (Some(read), Some(memcpy)) = (get("read/sequential/1024"), get("floor/memcpy/1024")) {
        let r = read.ns / memcpy.ns;
        lines.push(format!(
            "1 KiB sequential read ≤ 2x memcpy of 1 KiB: {r:.2}x, {}",
            verdict(r <= 2.0)
        ));
    }
    for prefix in ["recover/open/", "recover/open_verify_sealed/"] {
        if let (Some((id, open)), Some(crc)) = (find(results, prefix), get("recover/crc32c/16MiB"))
            && let Some(r) = ratio(open, crc, Per::Byte)
        {
            lines.push(format!(
                "`{id}` ≤ 2x CRC-32C of the bytes it checks: {r:.2}x, {}",
                verdict(r <= 2.0)
            ));
        }
    }
    if let (Some((id, open)), Some(floor)) = (
        find(results, "recover/open/"),
        get("recover/map_crc32c/16MiB"),
    ) {
        lines.push(format!(
            "`{id}` against mapping and checking its active segment on one thread \
             (`recover/map_crc32c/16MiB`, not a target of issue 5): {:.2}x",
            open.ns / floor.ns
        ));
    }
    if let (Some(one), Some(eight)) = (
        get("sync/group_commit/threads/1"),
        get("sync/group_commit/threads/8"),
    ) {
        let r = one.ns / eight.ns;
        lines.push(format!(
            "8-thread sync'd writes ≥ 3x the records/s of 1 thread: {r:.2}x, {}",
            verdict(r >= 3.0)
        ));
    }
    lines
}

/// `text` with its `## Benchmarks` section replaced by `section`, or `section` inserted before
/// `## Development` (or at the end).
fn splice(text: &str, section: &str) -> String {
    let start = find_heading(text, "## Benchmarks");
    let (before, after) = if let Some(start) = start {
        let rest = &text[start + 1..];
        let end = rest.find("\n## ").map_or(text.len(), |i| start + 1 + i + 1);
        (&text[..start], &text[end..])
    } else if let Some(dev) = find_heading(text, "## Development") {
        (&text[..dev], &text[dev..])
    } else {
        (text, "")
    };
    format!("{before}{section}{after}")
}

/// Byte offset of a line that is exactly `heading`.
fn find_heading(text: &str, heading: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == heading {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}
