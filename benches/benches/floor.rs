//! The floors every other bench is read against, measured in the same run: a memcpy of the
//! payload into a mapped, preallocated (fallocated and prefaulted) file; CRC-32C of the same
//! bytes; both, as an append must do; and one fdatasync of a 4 KiB dirty page.

use std::fs::File;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use walfs::core::crc::crc32c;
use walfs_benches::{FLOOR_MAP_LEN, KIB, MappedFile, WRITE_SIZES, bench_dir, payload};

/// Sizes of every payload the other benches use.
const SIZES: [usize; 5] = WRITE_SIZES;

fn memcpy_and_crc(c: &mut Criterion) {
    let dir = bench_dir();
    let mut mapped = MappedFile::new(dir.path(), FLOOR_MAP_LEN);
    let mut group = c.benchmark_group("floor");
    for size in SIZES {
        let bytes = payload(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("memcpy", size), &bytes, |b, bytes| {
            b.iter(|| mapped.copy(black_box(bytes)));
        });
        group.bench_with_input(BenchmarkId::new("crc32c", size), &bytes, |b, bytes| {
            b.iter(|| crc32c(black_box(bytes)));
        });
        group.bench_with_input(
            BenchmarkId::new("memcpy_crc32c", size),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    mapped.copy(black_box(bytes));
                    crc32c(black_box(bytes))
                });
            },
        );
    }
    group.finish();
}

/// A file whose first `len` bytes are written and durable: overwrites change no metadata.
fn written_file(dir: &std::path::Path, name: &str, len: usize) -> File {
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.join(name))
        .expect("create");
    let zeros = vec![0u8; len];
    rustix::io::pwrite(&file, &zeros, 0).expect("pwrite");
    rustix::fs::fsync(&file).expect("fsync");
    file
}

/// 256 pages the sync floors cycle over.
const SYNC_FILE_LEN: usize = 256 * 4 * KIB;

fn fdatasync(c: &mut Criterion) {
    walfs_benches::settle_disk();
    let dir = bench_dir();
    let page = payload(4 * KIB);
    let mut group = c.benchmark_group("floor/fdatasync_4k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(4 * KIB as u64));

    // The baseline: pwrite over a written page, then fdatasync (no metadata to commit).
    let file = written_file(dir.path(), "pwrite", SYNC_FILE_LEN);
    let mut next = 0u64;
    group.bench_function("pwrite_overwrite", |b| {
        b.iter(|| {
            rustix::io::pwrite(&file, &page, next).expect("pwrite");
            rustix::fs::fdatasync(&file).expect("fdatasync");
            next = (next + 4096) % SYNC_FILE_LEN as u64;
        });
    });

    // A store through a shared mapping of a written page, then fdatasync.
    let mut mapped = MappedFile::new(dir.path(), SYNC_FILE_LEN as u64);
    let mapped_file = File::open(dir.path().join("floor.map")).expect("open floor file");
    rustix::fs::fsync(&mapped_file).expect("fsync");
    let mut offset = 0usize;
    group.bench_function("mmap_store_overwrite", |b| {
        b.iter(|| {
            mapped.bytes_mut()[offset..offset + page.len()].copy_from_slice(&page);
            rustix::fs::fdatasync(&mapped_file).expect("fdatasync");
            offset = (offset + 4096) % SYNC_FILE_LEN;
        });
    });

    // pwrite into fresh fallocated (unwritten) space, as a segment's first write to each page:
    // fdatasync must also commit the extent conversion.
    let fresh = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.path().join("fallocated"))
        .expect("create");
    let fresh_len = 1u64 << 30;
    rustix::fs::fallocate(&fresh, rustix::fs::FallocateFlags::empty(), 0, fresh_len)
        .expect("fallocate");
    rustix::fs::fsync(&fresh).expect("fsync");
    let mut at = 0u64;
    group.bench_function("pwrite_fallocated", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if at >= fresh_len {
                    // Untimed: give the space back as unwritten extents.
                    rustix::fs::fallocate(
                        &fresh,
                        rustix::fs::FallocateFlags::PUNCH_HOLE
                            | rustix::fs::FallocateFlags::KEEP_SIZE,
                        0,
                        fresh_len,
                    )
                    .expect("punch");
                    rustix::fs::fallocate(
                        &fresh,
                        rustix::fs::FallocateFlags::empty(),
                        0,
                        fresh_len,
                    )
                    .expect("fallocate");
                    rustix::fs::fsync(&fresh).expect("fsync");
                    at = 0;
                }
                let start = Instant::now();
                rustix::io::pwrite(&fresh, &page, at).expect("pwrite");
                rustix::fs::fdatasync(&fresh).expect("fdatasync");
                total += start.elapsed();
                at += 4096;
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, memcpy_and_crc, fdatasync);
criterion_main!(benches);
