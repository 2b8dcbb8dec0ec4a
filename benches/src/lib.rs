//! Helpers shared by walfs' criterion benches (`benches/*.rs`), the zero-allocation test and the
//! `bench-table` binary.
//!
//! Every bench is read as a ratio to a floor measured in the same run (`benches/floor.rs`): a
//! memcpy of the payload into a mapped, preallocated file, CRC-32C of the same bytes, and one
//! fdatasync of a 4 KiB dirty page. `scripts/bench-table.sh` prints the table.

use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memmap2::{Advice, Mmap, MmapMut};
use walfs::core::format::{HEADER_LEN, frame_len};
use walfs::{Options, Position, RetentionPolicy, Wal};

/// One KiB.
pub const KIB: usize = 1024;

/// Payload sizes of the Go original's "Write Performance (`NoSync` mode)" rows.
pub const WRITE_SIZES: [usize; 5] = [16, KIB, 32 * KIB, 64 * KIB, 512 * KIB];

/// Payload sizes of the Go original's "Sync Impact" rows.
pub const SYNC_SIZES: [usize; 3] = [KIB, 32 * KIB, 64 * KIB];

/// Length of the mapped file the memcpy floors copy into: larger than the caches, like a
/// segment's worth of appends.
pub const FLOOR_MAP_LEN: u64 = 64 * 1024 * 1024;

/// Segment size of every bench WAL: the default of both implementations (16 MiB).
pub const SEGMENT_SIZE: u64 = 16 * 1024 * 1024;

/// A payload of `len` bytes with a fixed, non-constant pattern.
pub fn payload(len: usize) -> Vec<u8> {
    // Truncation is the point: a repeating byte pattern.
    #[expect(clippy::cast_possible_truncation, reason = "a byte pattern")]
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// A fresh temporary directory for a bench, under `$WALFS_BENCH_DIR` if set (default: the
/// system's temporary directory, which must be on a real disk for the sync benches to mean
/// anything).
///
/// # Panics
/// If the directory cannot be created.
pub fn bench_dir() -> tempfile::TempDir {
    let builder = tempfile::Builder::new()
        .prefix("walfs-bench-")
        .tempdir_in(base_dir());
    builder.expect("create a bench directory")
}

fn base_dir() -> PathBuf {
    std::env::var_os("WALFS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// Records of `payload_len` bytes that fit in one segment of `segment_size` bytes.
pub fn records_per_segment(segment_size: u64, payload_len: usize) -> u64 {
    (segment_size - HEADER_LEN as u64) / frame_len(payload_len as u64)
}

/// Retention that keeps the active segment and the one before it: benches that write gigabytes
/// remove what they wrote, outside the timed loop.
pub const KEEP_TWO: RetentionPolicy = RetentionPolicy {
    max_age_ns: None,
    max_segments: Some(2),
    min_segments: 2,
};

/// Times `iters` appends of `record` to `wal` (with whatever sync policy it has); first, untimed,
/// removes the segments that earlier calls filled.
///
/// # Panics
/// If an append or the retention fails.
pub fn timed_appends(wal: &Wal, record: &[u8], iters: u64) -> Duration {
    wal.apply_retention(&KEEP_TWO, |_| true).expect("retention");
    let start = Instant::now();
    for _ in 0..iters {
        black_box(wal.append(black_box(record)).expect("append"));
    }
    start.elapsed()
}

/// A WAL whose appends are timed inside one segment: rotation (which seals, and so syncs, the
/// segment) and removal of old segments happen between timed chunks, so a no-sync write bench
/// measures the append path alone. `write_across_rotation` measures the rest.
pub struct SegmentAppender {
    /// The WAL.
    pub wal: Wal,
    payload: Vec<u8>,
    per_segment: u64,
    /// Records that still fit in the active segment.
    left: u64,
    /// Positions readers of the concurrent bench read (appended right after each rotation).
    reads: Vec<Position>,
    reads_per_segment: usize,
    /// Minor page faults of this thread inside timed chunks, and the records they appended.
    faults: (u64, u64),
    _dir: tempfile::TempDir,
}

impl SegmentAppender {
    /// A fresh WAL appending records of `payload_len` bytes; `reads` records are appended after
    /// each rotation (untimed) for concurrent readers to read.
    ///
    /// # Panics
    /// If the WAL cannot be opened.
    pub fn new(payload_len: usize, reads: usize) -> Self {
        Self::with_preparation(payload_len, reads, true)
    }

    /// [`SegmentAppender::new`], with new segments prepared ahead of the writer or not
    /// ([`Options::prepare_segments`]).
    ///
    /// # Panics
    /// If the WAL cannot be opened.
    pub fn with_preparation(payload_len: usize, reads: usize, prepare: bool) -> Self {
        let dir = bench_dir();
        let options = Options::new()
            .segment_size(SEGMENT_SIZE)
            .prepare_segments(prepare);
        let wal = Wal::open(dir.path(), options).expect("open");
        let per_segment = records_per_segment(SEGMENT_SIZE, payload_len);
        let mut appender = SegmentAppender {
            wal,
            payload: payload(payload_len),
            per_segment,
            left: per_segment,
            reads: Vec::with_capacity(reads),
            reads_per_segment: reads,
            faults: (0, 0),
            _dir: dir,
        };
        appender.fill_reads();
        appender
    }

    fn fill_reads(&mut self) {
        self.reads.clear();
        for _ in 0..self.reads_per_segment {
            self.reads
                .push(self.wal.append(&self.payload).expect("append"));
        }
        self.left -= self.reads_per_segment as u64;
    }

    /// Starts a new segment and removes old ones (untimed).
    fn roll(&mut self) {
        self.wal.rotate().expect("rotate");
        self.wal
            .apply_retention(&KEEP_TWO, |_| true)
            .expect("retention");
        self.left = self.per_segment;
        self.fill_reads();
    }

    /// Runs `iters` operations in chunks that stay inside one segment; `chunk` runs `n` of them
    /// and its time is summed. Returns the summed time.
    fn chunked(
        &mut self,
        iters: u64,
        min_chunk: u64,
        mut chunk: impl FnMut(&Self, u64),
    ) -> Duration {
        self.chunked_timed_inside(iters, min_chunk, u64::MAX, |me, n| {
            let start = Instant::now();
            chunk(me, n);
            start.elapsed()
        })
    }

    /// [`SegmentAppender::chunked`], chunks of at most `max_chunk` operations, each returning
    /// the time to count (which it measures itself).
    fn chunked_timed_inside(
        &mut self,
        iters: u64,
        min_chunk: u64,
        max_chunk: u64,
        mut chunk: impl FnMut(&Self, u64) -> Duration,
    ) -> Duration {
        let mut total = Duration::ZERO;
        let mut todo = iters;
        while todo > 0 {
            if self.left < min_chunk.min(todo).max(1) {
                self.roll();
            }
            let n = todo.min(self.left).min(max_chunk);
            let rotations = self.wal.rotation_count();
            let faults = minor_faults();
            total += chunk(self, n);
            self.faults.0 += minor_faults().saturating_sub(faults);
            self.faults.1 += n;
            assert_eq!(
                self.wal.rotation_count(),
                rotations,
                "an append rotated inside a timed chunk"
            );
            todo -= n;
            self.left -= n;
        }
        total
    }

    /// Minor page faults per record this thread took inside timed chunks so far (the
    /// appending thread's own faults, so meaningful for [`SegmentAppender::append`]).
    pub fn faults_per_record(&self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
        let ratio = self.faults.0 as f64 / self.faults.1.max(1) as f64;
        ratio
    }

    /// Appends `iters` records on this thread; returns the time spent appending.
    ///
    /// # Panics
    /// If an append fails, or rotates inside a timed chunk.
    pub fn append(&mut self, iters: u64) -> Duration {
        self.chunked(iters, 1, |me, n| {
            for _ in 0..n {
                black_box(me.wal.append(black_box(&me.payload)).expect("append"));
            }
        })
    }

    /// Appends `iters` records like [`SegmentAppender::append`], in steps of at most `step`
    /// records; right after each step, times as many copies of the payload into `floor` and as
    /// many CRC-32Cs of it: the floors of `floor/memcpy` and `floor/crc32c`, measured in the
    /// same fraction of a millisecond as the appends they are compared with. Pushes each step's
    /// times `[appends, memcpy, crc]` and its record count to `steps`; returns the appends'
    /// time.
    ///
    /// # Panics
    /// If an append fails, or rotates inside a timed step.
    pub fn append_paired(
        &mut self,
        iters: u64,
        step: u64,
        floor: &mut MappedFile,
        steps: &mut Vec<PairedStep>,
    ) -> Duration {
        self.chunked_timed_inside(iters, 1, step, |me, n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(me.wal.append(black_box(&me.payload)).expect("append"));
            }
            let appends = start.elapsed();
            let start = Instant::now();
            for _ in 0..n {
                floor.copy(black_box(&me.payload));
            }
            let memcpy = start.elapsed();
            let start = Instant::now();
            for _ in 0..n {
                black_box(walfs::core::crc::crc32c(black_box(&me.payload)));
            }
            let crc = start.elapsed();
            steps.push(PairedStep {
                records: n,
                appends,
                memcpy,
                crc,
            });
            appends
        })
    }

    /// Appends `iters` records from `threads` threads (each a share); returns the wall time.
    ///
    /// # Panics
    /// If an append fails, or rotates inside a timed chunk.
    pub fn append_threads(&mut self, iters: u64, threads: u64) -> Duration {
        self.chunked(iters, threads, |me, n| {
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let share = n / threads + u64::from(t < n % threads);
                    scope.spawn(move || {
                        for _ in 0..share {
                            black_box(me.wal.append(black_box(&me.payload)).expect("append"));
                        }
                    });
                }
            });
        })
    }

    /// `iters` operations from `writers` appending threads and `readers` threads reading
    /// records of the active segment by position, shared out in proportion; returns the wall
    /// time. Only the appends use up the segment, but chunks are cut as if every operation did.
    ///
    /// # Panics
    /// If an append or a read fails, or an append rotates inside a timed chunk.
    pub fn read_write_threads(&mut self, iters: u64, writers: u64, readers: u64) -> Duration {
        let threads = writers + readers;
        self.chunked(iters, threads, |me, n| {
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let share = n / threads + u64::from(t < n % threads);
                    if t < writers {
                        scope.spawn(move || {
                            for _ in 0..share {
                                black_box(me.wal.append(black_box(&me.payload)).expect("append"));
                            }
                        });
                    } else {
                        scope.spawn(move || {
                            let reads = &me.reads;
                            for i in 0..share {
                                #[expect(clippy::cast_possible_truncation, reason = "modulo len")]
                                let position = reads[(i % reads.len() as u64) as usize];
                                let view = me.wal.read(position).expect("read");
                                black_box(&*view);
                            }
                        });
                    }
                }
            });
        })
    }
}

/// One step of [`SegmentAppender::append_paired`]: `records` appends and, right after, as many
/// copies and CRC-32Cs of the payload, each timed.
#[derive(Debug, Clone, Copy)]
pub struct PairedStep {
    /// Records appended (and copied, and checksummed) in the step.
    pub records: u64,
    /// Time of the appends.
    pub appends: Duration,
    /// Time of the copies into the floor's mapped file.
    pub memcpy: Duration,
    /// Time of the CRC-32Cs.
    pub crc: Duration,
}

/// What [`paired_summary`] makes of the steps of [`SegmentAppender::append_paired`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedSummary {
    /// Full steps counted.
    pub steps: usize,
    /// Quartiles (25 %, median, 75 %) of each step's appends / (memcpy + CRC-32C).
    pub ratio: [f64; 3],
    /// Medians over the steps of the time per record of the appends, the copies and the CRCs,
    /// in nanoseconds.
    pub ns_per_record: [f64; 3],
}

/// Summarises the steps that ran `step` records (the last of a segment may run fewer; they
/// are left out). `None` without any.
pub fn paired_summary(steps: &[PairedStep], step: u64) -> Option<PairedSummary> {
    let full: Vec<&PairedStep> = steps.iter().filter(|s| s.records == step).collect();
    if full.is_empty() {
        return None;
    }
    let quartiles = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let at = |q: usize| values[(values.len() - 1) * q / 4];
        [at(1), at(2), at(3)]
    };
    #[expect(
        clippy::cast_precision_loss,
        reason = "a step's record count, for display"
    )]
    let per_record = |d: Duration| d.as_secs_f64() * 1e9 / step as f64;
    let ratio = quartiles(
        full.iter()
            .map(|s| s.appends.as_secs_f64() / (s.memcpy + s.crc).as_secs_f64())
            .collect(),
    );
    let median = |f: fn(&PairedStep) -> Duration| {
        quartiles(full.iter().map(|s| per_record(f(s))).collect())[1]
    };
    Some(PairedSummary {
        steps: full.len(),
        ratio,
        ns_per_record: [
            median(|s| s.appends),
            median(|s| s.memcpy),
            median(|s| s.crc),
        ],
    })
}

/// Where `bench-table` finds criterion's results: `$CARGO_TARGET_DIR/criterion`, else the
/// workspace's `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
            PathBuf::from,
        )
        .join("criterion")
}

/// The file the paired 1 KiB write bench leaves its [`PairedSummary`] in, under
/// [`criterion_dir`].
pub const PAIRED_WRITE_FILE: &str = "paired/write_nosync_1024.json";

/// Minor page faults of the calling thread so far (`/proc/thread-self/stat`; 0 where missing).
pub fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses: state is the first,
            // minflt the eighth.
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.split(' ').nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Flushes every dirty page of the machine (untimed, before the sync benches), so that their
/// fdatasyncs do not share the disk with write-back left by earlier benches.
pub fn settle_disk() {
    rustix::fs::sync();
}

/// A WAL filled with records of one size, for the read benches.
pub struct FilledWal {
    /// The WAL.
    pub wal: Wal,
    /// The position of every record, in order.
    pub positions: Vec<Position>,
    _dir: tempfile::TempDir,
}

impl FilledWal {
    /// A WAL with `count` records of `payload_len` bytes (all in the first segment when they
    /// fit in 16 MiB).
    ///
    /// # Panics
    /// If the WAL cannot be written.
    pub fn new(payload_len: usize, count: usize) -> Self {
        let dir = bench_dir();
        let wal = Wal::open(dir.path(), Options::new().segment_size(SEGMENT_SIZE)).expect("open");
        let bytes = payload(payload_len);
        let positions = (0..count)
            .map(|_| wal.append(&bytes).expect("append"))
            .collect();
        FilledWal {
            wal,
            positions,
            _dir: dir,
        }
    }

    /// As many records of `payload_len` bytes as one segment holds, at most 65,536 and at
    /// least 8.
    pub fn one_segment(payload_len: usize) -> Self {
        let fit = records_per_segment(SEGMENT_SIZE, payload_len).min(65_536);
        Self::new(payload_len, usize::try_from(fit).unwrap_or(8).max(8))
    }
}

/// The memcpy floor: a preallocated file, mapped and prefaulted, that payloads are copied into
/// one after another (wrapping around), as an append copies them into a segment.
pub struct MappedFile {
    map: MmapMut,
    next: usize,
    _file: File,
}

impl MappedFile {
    /// A mapped file of `len` bytes in `dir`, fallocated and prefaulted for writing.
    ///
    /// # Panics
    /// If the file cannot be created or mapped.
    pub fn new(dir: &Path, len: u64) -> Self {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.join("floor.map"))
            .expect("create floor file");
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len)
            .expect("fallocate");
        let map = map_file(&file);
        // Failure (an old kernel) only leaves the faults in the first pass.
        let _ = map.advise(Advice::PopulateWrite);
        let mut mapped = MappedFile {
            map,
            next: 0,
            _file: file,
        };
        mapped.map.fill(0);
        mapped
    }

    /// Copies `payload` at the next 8-aligned offset, wrapping at the end.
    pub fn copy(&mut self, payload: &[u8]) {
        if self.next + payload.len() > self.map.len() {
            self.next = 0;
        }
        let end = self.next + payload.len();
        self.map[self.next..end].copy_from_slice(payload);
        black_box(&self.map[self.next..end]);
        self.next = (end + 7) & !7;
    }

    /// The mapping.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

/// The last segment file (`*.wal`, highest id) of the WAL in `dir`: the active one.
///
/// # Panics
/// If the directory cannot be read or holds no segment.
pub fn last_segment_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("read the WAL directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .max()
        .expect("a segment file")
}

/// `file` mapped read-only with every page populated (`MADV_POPULATE_READ`): what a recovery
/// scan must do before it can check the bytes (the floor `recover/map_crc32c`).
///
/// # Panics
/// If the file cannot be mapped.
#[expect(unsafe_code, reason = "memmap2 maps files with an unsafe constructor")]
pub fn map_populated(file: &File) -> Mmap {
    // SAFETY: the file is a segment of a closed bench WAL in a fresh temporary directory:
    // nothing truncates or writes it while the mapping lives (the bench opens the WAL only
    // between these mappings).
    let map = unsafe { Mmap::map(file) }.expect("map segment file");
    // Failure (an old kernel) leaves the faults to the CRC's pass.
    let _ = map.advise(Advice::PopulateRead);
    map
}

#[expect(unsafe_code, reason = "memmap2 maps files with an unsafe constructor")]
fn map_file(file: &File) -> MmapMut {
    // SAFETY: the file is a private file of a fresh temporary directory: nothing else maps,
    // truncates or writes it while the mapping lives.
    unsafe { MmapMut::map_mut(file) }.expect("map floor file")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(records: u64, appends: u64, memcpy: u64, crc: u64) -> PairedStep {
        PairedStep {
            records,
            appends: Duration::from_nanos(appends),
            memcpy: Duration::from_nanos(memcpy),
            crc: Duration::from_nanos(crc),
        }
    }

    #[test]
    fn paired_summary_reads_quartiles_of_full_steps_and_drops_short_ones() {
        // Ratios 1.0, 1.5, 2.0, 2.5, 3.0 over steps of 10 records; the short step (ratio 100)
        // must not count.
        let steps = [
            step(10, 3000, 800, 200),
            step(10, 1000, 800, 200),
            step(4, 100_000, 800, 200),
            step(10, 2500, 800, 200),
            step(10, 1500, 800, 200),
            step(10, 2000, 800, 200),
        ];
        let summary = paired_summary(&steps, 10).expect("full steps");
        assert_eq!(summary.steps, 5);
        let close =
            |got: [f64; 3], want: [f64; 3]| got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9);
        assert!(close(summary.ratio, [1.5, 2.0, 2.5]), "{:?}", summary.ratio);
        assert!(
            close(summary.ns_per_record, [200.0, 80.0, 20.0]),
            "{:?}",
            summary.ns_per_record
        );
        assert_eq!(paired_summary(&steps[2..3], 10), None);
    }
}
