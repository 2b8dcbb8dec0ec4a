//! Open (recovery) of a large WAL: 16 MiB segments of 1 KiB records, the last one half full
//! and active, 1 GiB in all (`WALFS_BENCH_RECOVER_MIB` scales it; the size is in the bench id).
//! Files are in the page cache (a warm open).
//!
//! - `recover/open`: the default open, which trusts sealed segments' headers and index files
//!   and scans the active segment, checking every record's CRC-32C; its throughput counts the
//!   active segment's frame bytes, the bytes it must check.
//! - `recover/open_verify_sealed`: `Options::verify_sealed(true)`, which checks every record of
//!   every segment; its throughput counts every frame byte.
//! - `recover/crc32c/16MiB`: the floor, CRC-32C of 16 MiB in memory; read the opens against it
//!   per byte.
//! - `recover/map_crc32c/16MiB`: a second floor, what the scan of the active segment cannot
//!   avoid: map its file, populate its 4,096 pages from the page cache (`MADV_POPULATE_READ`)
//!   and CRC-32C its 16 MiB, on one thread (the unmapping is not timed, as the opens' drop is
//!   not); read `recover/open` against it per open.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use walfs::core::crc::crc32c;
use walfs::core::format::frame_len;
use walfs::{Options, Wal};
use walfs_benches::{
    KIB, SEGMENT_SIZE, bench_dir, last_segment_file, map_populated, payload, records_per_segment,
};

/// Size of the WAL in MiB (a multiple of 16, at least 32).
fn wal_mib() -> u64 {
    std::env::var("WALFS_BENCH_RECOVER_MIB")
        .ok()
        .and_then(|mib| mib.parse::<u64>().ok())
        .unwrap_or(1024)
        .max(32)
        / 16
        * 16
}

fn recover(c: &mut Criterion) {
    let mib = wal_mib();
    let segments = mib * 1024 * 1024 / SEGMENT_SIZE;
    let per_segment = records_per_segment(SEGMENT_SIZE, KIB);
    let active_records = per_segment / 2;
    let records = per_segment * (segments - 1) + active_records;
    let frame = frame_len(KIB as u64);

    let dir = bench_dir();
    let started = Instant::now();
    {
        let wal = Wal::open(dir.path(), Options::new().segment_size(SEGMENT_SIZE)).expect("open");
        let record = payload(KIB);
        let batch: Vec<&[u8]> = vec![record.as_slice(); 1024];
        let mut left = records;
        while left > 0 {
            let n = usize::try_from(left.min(1024)).expect("small");
            wal.append_batch(&batch[..n]).expect("append");
            left -= n as u64;
        }
        wal.close().expect("close");
    }
    eprintln!(
        "recover: wrote a {mib} MiB WAL ({segments} segments of 16 MiB, {records} records of 1 KiB, \
         the last segment half full) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut group = c.benchmark_group("recover");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let size = format!("{mib}MiB");
    for (name, verify, checked) in [
        ("open", false, active_records * frame),
        ("open_verify_sealed", true, records * frame),
    ] {
        group.throughput(Throughput::Bytes(checked));
        group.bench_function(BenchmarkId::new(name, &size), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let options = Options::new()
                        .segment_size(SEGMENT_SIZE)
                        .verify_sealed(verify);
                    let start = Instant::now();
                    let wal = Wal::open(dir.path(), options).expect("open");
                    total += start.elapsed();
                    drop(wal);
                }
                total
            });
        });
    }

    let active = std::fs::File::open(last_segment_file(dir.path())).expect("open active segment");
    group.throughput(Throughput::Bytes(SEGMENT_SIZE));
    group.bench_function(BenchmarkId::new("map_crc32c", "16MiB"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let map = map_populated(&active);
                std::hint::black_box(crc32c(&map));
                total += start.elapsed();
                drop(map);
            }
            total
        });
    });

    let bytes = payload(16 * 1024 * 1024);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(BenchmarkId::new("crc32c", "16MiB"), |b| {
        b.iter(|| crc32c(std::hint::black_box(&bytes)));
    });
    group.finish();
}

criterion_group!(benches, recover);
criterion_main!(benches);
