//! Appends without sync: the Go original's "Write Performance (`NoSync` mode)" and "Concurrent
//! Performance" rows, plus a batch of 64 x 1 KiB and writes across rotation.
//!
//! `write_nosync/unprepared` is the 1 KiB row with `Options::prepare_segments(false)`: the
//! first store to each page takes the file system's write fault on the append path.
//!
//! `write_nosync`, the batch and the concurrent rows time appends inside one segment (rotation,
//! which seals and so syncs a segment, runs untimed between chunks); `write_across_rotation`
//! times everything, rotation included. Read each against `floor/memcpy_crc32c` of the same size.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use walfs::{Options, Wal};
use walfs_benches::{
    FLOOR_MAP_LEN, KEEP_TWO, KIB, MappedFile, PAIRED_WRITE_FILE, SEGMENT_SIZE, SegmentAppender,
    WRITE_SIZES, bench_dir, criterion_dir, paired_summary, payload, timed_appends,
};

fn write_nosync(c: &mut Criterion) {
    let mut group = c.benchmark_group("append/write_nosync");
    for size in WRITE_SIZES {
        let mut appender = SegmentAppender::new(size, 0);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_custom(|iters| appender.append(iters));
        });
        // Each 4 KiB page of a fresh segment should be faulted in when the segment is created,
        // not on the first append to it: say how many faults the timed appends took.
        eprintln!(
            "append/write_nosync/{size}: {:.3} minor page faults per record in the timed loop \
             ({:.3} per 4 KiB appended)",
            appender.faults_per_record(),
            appender.faults_per_record() * 4096.0
                / f64::from(u32::try_from(size).unwrap_or(u32::MAX))
        );
    }
    // The same 1 KiB appends without the background preparer: what it saves the append path.
    let mut appender = SegmentAppender::with_preparation(KIB, 0, false);
    group.throughput(Throughput::Bytes(KIB as u64));
    group.bench_function(BenchmarkId::new("unprepared", KIB), |b| {
        b.iter_custom(|iters| appender.append(iters));
    });
    group.finish();
}

/// The 1 KiB row again, each step of [`PAIRED_STEP`] appends followed by as many copies and
/// CRC-32Cs of the payload (the floors), each timed: the target compares the appends with
/// floors taken within the same fraction of a millisecond. This machine's speed drifts by a
/// third over seconds, and the floor benches run a minute after this one. The quartiles of the
/// steps' ratios go to [`PAIRED_WRITE_FILE`] for `bench-table`.
fn write_nosync_paired(c: &mut Criterion) {
    let dir = bench_dir();
    let mut floor = MappedFile::new(dir.path(), FLOOR_MAP_LEN);
    let mut appender = SegmentAppender::new(KIB, 0);
    let mut steps = Vec::with_capacity(1 << 16);
    let mut group = c.benchmark_group("append/write_nosync");
    group.throughput(Throughput::Bytes(KIB as u64));
    group.bench_function(BenchmarkId::new("paired", KIB), |b| {
        b.iter_custom(|iters| appender.append_paired(iters, PAIRED_STEP, &mut floor, &mut steps));
    });
    group.finish();
    let Some(summary) = paired_summary(&steps, PAIRED_STEP) else {
        return;
    };
    let [q1, median, q3] = summary.ratio;
    let [appends, memcpy, crc] = summary.ns_per_record;
    eprintln!(
        "append/write_nosync/paired/1024: appends / (memcpy + CRC-32C) in {} steps of {PAIRED_STEP} \
         records: median {median:.2}x (quartiles {q1:.2}x-{q3:.2}x); per record {appends:.1} ns \
         against {memcpy:.1} + {crc:.1} ns",
        summary.steps
    );
    let json = serde_json::json!({
        "step_records": PAIRED_STEP,
        "steps": summary.steps,
        "ratio_quartiles": summary.ratio,
        "ns_per_record": { "appends": appends, "memcpy": memcpy, "crc32c": crc },
    });
    let path = criterion_dir().join(PAIRED_WRITE_FILE);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the paired results' directory");
    }
    std::fs::write(&path, json.to_string()).expect("write the paired results");
}

/// Records per step of [`write_nosync_paired`]: 256 KiB, tens of microseconds per part.
const PAIRED_STEP: u64 = 256;

fn batch(c: &mut Criterion) {
    const RECORDS: usize = 64;
    let dir = bench_dir();
    let wal = Wal::open(dir.path(), Options::new().segment_size(SEGMENT_SIZE)).expect("open");
    let record = payload(KIB);
    let batch: Vec<&[u8]> = vec![record.as_slice(); RECORDS];
    let per_segment = walfs_benches::records_per_segment(SEGMENT_SIZE, KIB) / RECORDS as u64;
    let mut left = per_segment;
    let mut group = c.benchmark_group("append/batch_64x1KiB");
    group.throughput(Throughput::Bytes((RECORDS * KIB) as u64));
    group.bench_function("batch", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut todo = iters;
            while todo > 0 {
                if left == 0 {
                    wal.rotate().expect("rotate");
                    wal.apply_retention(&KEEP_TWO, |_| true).expect("retention");
                    left = per_segment;
                }
                let n = todo.min(left);
                let start = Instant::now();
                for _ in 0..n {
                    black_box(wal.append_batch(black_box(&batch)).expect("append"));
                }
                total += start.elapsed();
                todo -= n;
                left -= n;
            }
            total
        });
    });
    group.finish();
}

fn write_across_rotation(c: &mut Criterion) {
    let dir = bench_dir();
    let wal = Wal::open(dir.path(), Options::new().segment_size(SEGMENT_SIZE)).expect("open");
    let record = payload(KIB);
    let mut group = c.benchmark_group("append/write_across_rotation");
    group.throughput(Throughput::Bytes(KIB as u64));
    group.bench_function(BenchmarkId::from_parameter(KIB), |b| {
        b.iter_custom(|iters| timed_appends(&wal, &record, iters));
    });
    group.finish();
}

fn concurrent(c: &mut Criterion) {
    let mut group = c.benchmark_group("append/concurrent");
    group.throughput(Throughput::Bytes(KIB as u64));
    let mut writers = SegmentAppender::new(KIB, 0);
    group.bench_function("writers_2/1024", |b| {
        b.iter_custom(|iters| writers.append_threads(iters, 2));
    });
    let mut mixed = SegmentAppender::new(KIB, 1024);
    group.bench_function("readers_4_writers_4/1024", |b| {
        b.iter_custom(|iters| mixed.read_write_threads(iters, 4, 4));
    });
    group.finish();
}

criterion_group!(
    benches,
    write_nosync,
    write_nosync_paired,
    batch,
    write_across_rotation,
    concurrent
);
criterion_main!(benches);
