//! Durable appends, in their own groups with fewer samples: the Go original's "Sync Impact"
//! rows (`SyncPolicy::EveryWrite`, its `SyncAfterWrite`), and group commit: 1, 2, 4 and 8
//! threads each appending 1 KiB and calling `Wal::sync`, so concurrent syncs are shared. Read
//! each against `floor/fdatasync_4k/pwrite_overwrite`, per record.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use walfs::{Options, SyncPolicy, Wal};
use walfs_benches::{KEEP_TWO, KIB, SEGMENT_SIZE, SYNC_SIZES, bench_dir, payload, timed_appends};

fn write_sync(c: &mut Criterion) {
    walfs_benches::settle_disk();
    let mut group = c.benchmark_group("sync/write_sync");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    for size in SYNC_SIZES {
        let dir = bench_dir();
        let options = Options::new()
            .segment_size(SEGMENT_SIZE)
            .sync_policy(SyncPolicy::EveryWrite);
        let wal = Wal::open(dir.path(), options).expect("open");
        let record = payload(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_custom(|iters| timed_appends(&wal, &record, iters));
        });
    }
    group.finish();
}

fn group_commit(c: &mut Criterion) {
    walfs_benches::settle_disk();
    let mut group = c.benchmark_group("sync/group_commit");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(KIB as u64));
    let record = payload(KIB);
    for threads in [1u64, 2, 4, 8] {
        let dir = bench_dir();
        let wal = Wal::open(dir.path(), Options::new().segment_size(SEGMENT_SIZE)).expect("open");
        group.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter_custom(|iters| {
                wal.apply_retention(&KEEP_TWO, |_| true).expect("retention");
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for t in 0..threads {
                        let share = iters / threads + u64::from(t < iters % threads);
                        let (wal, record) = (&wal, &record);
                        scope.spawn(move || {
                            for _ in 0..share {
                                black_box(wal.append(black_box(record)).expect("append"));
                                wal.sync().expect("sync");
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, write_sync, group_commit);
criterion_main!(benches);
