//! Reads: the Go original's "Read Performance" rows. A direct read is `Wal::read` at a known
//! position, a sequential read is `Reader::next`; both verify the record's CRC-32C and return a
//! zero-copy view (the Go original checks no CRC on either path). Read each against
//! `floor/memcpy` of the same size.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use walfs_benches::{FilledWal, KIB};

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("read/direct");
    for size in [16, KIB, 512 * KIB] {
        let filled = FilledWal::one_segment(size);
        let mut next = 0usize;
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let position = filled.positions[next];
                next = (next + 1) % filled.positions.len();
                let view = filled.wal.read(black_box(position)).expect("read");
                black_box(&*view);
            });
        });
    }
    group.finish();
}

fn sequential(c: &mut Criterion) {
    let mut group = c.benchmark_group("read/sequential");
    for size in [KIB, 512 * KIB] {
        let filled = FilledWal::one_segment(size);
        let mut reader = filled.wal.reader();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let record = if let Some(record) = reader.next().expect("next") {
                    record
                } else {
                    // At the end of the log: start over (once per segment's worth).
                    reader = filled.wal.reader();
                    reader.next().expect("next").expect("a record")
                };
                black_box(record.payload());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, direct, sequential);
criterion_main!(benches);
