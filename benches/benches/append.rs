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
    KEEP_TWO, KIB, SEGMENT_SIZE, SegmentAppender, WRITE_SIZES, bench_dir, payload, timed_appends,
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
    batch,
    write_across_rotation,
    concurrent
);
criterion_main!(benches);
