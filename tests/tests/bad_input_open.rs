//! Whatever a WAL directory holds, the engine (`WalEngine` over the in-memory `MemStorage`) opens
//! it to a typed error or to a log that reads consistently, never a panic, a hang or a huge
//! allocation, and a log that opened loses nothing it showed when it is appended to and reopened.
//!
//! `any_bytes_never_panic` covers one segment at a time; this file covers whole directories:
//! 0..6 segments under arbitrary ids (0, gaps, `u32::MAX`, ids listed twice or out of order by
//! a misbehaving storage), each one random bytes, empty or shorter than its header, or a segment
//! written by the engine and then damaged (bit flips, cuts at any length, zeroed ranges, header
//! fields such as `write_offset`, `entry_count`, flags, `first_log_index`, version and magic replaced
//! by arbitrary values with or without a matching header CRC), each with an index file that is
//! missing, empty, cut, garbage, or well formed but wrong (offsets past the end or inside the
//! header, lengths too large, entries out of order).
//!
//! For every directory, under every repair policy and with or without `verify_sealed`:
//!
//! - `WalEngine::open` returns, within a time limit, and no single allocation is larger than
//!   [`ALLOC_LIMIT`] (a length or count field must not size an allocation);
//! - if it opened: a `WalCursor` walks the log to its end in a bounded number of steps, every
//!   record it yields reads back the same with `WalEngine::read` and `read_payload`, every
//!   record the engine lists reads without panic, `position_for_index` at and around the bounds
//!   and for every listed record answers without panic and points at a readable record, and
//!   reads at arbitrary positions return errors, never a panic;
//! - then appending a record, syncing and reopening also succeeds, and every record read before
//!   reads the same at the same position afterwards, along with the new one (no silent loss).
//!
//! Replaying a failure: the failing test prints its RNG seed and the replay command
//! (`PROPTEST_RNG_SEED=<seed> cargo test -p walfs-tests --test bad_input_open -- --exact
//! <test>`) and saves the shrunk case in `tests/tests/bad_input_open.regressions`, replayed first
//! by every later run. More cases: `PROPTEST_CASES=2000 cargo test -p walfs-tests --test
//! bad_input_open`.

// The counting allocator below needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]
#![allow(clippy::cast_possible_truncation, reason = "small test values")]

mod prop_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use walfs_core::crc::crc32c;
use walfs_core::format::HEADER_LEN;
use walfs_core::storage::Storage;
use walfs_core::testing::MemStorage;
use walfs_core::wal::{WalCursor, WalEngine, WalOptions, WalStep};
use walfs_core::{Position, RepairPolicy, SegmentId};
use walfs_tests::relisted::RelistedStorage;

/// The largest single allocation a case may make while the engine runs. The inputs are a few
/// KiB; anything near this size was sized by a field read from the input.
const ALLOC_LIMIT: usize = 1 << 20;

/// How long one case may run before it counts as a hang.
const CASE_TIME_LIMIT: Duration = Duration::from_secs(20);

thread_local! {
    /// Largest allocation request on this thread while tracking is on (`usize::MAX` = off).
    static LARGEST_ALLOC: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The system allocator, noting the largest request of threads that track it.
struct CountingAlloc;

fn note_alloc(size: usize) {
    // `try_with`: thread-local storage may already be gone while a thread exits.
    let _ = LARGEST_ALLOC.try_with(|largest| {
        if largest.get() != usize::MAX && size > largest.get() {
            largest.set(size);
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping touches only a const-initialized thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through it) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------------------------
// Inputs.

/// A log written by the engine, whose segments are the raw material of damaged segments.
#[derive(Debug, Clone)]
struct Written {
    segment_size: u64,
    /// Log index of the first record, 0 = records without index.
    first_log_index: u64,
    /// Payload length of each record, and whether to rotate after it.
    records: Vec<(usize, bool)>,
}

/// A header field: its offset and width.
#[derive(Debug, Clone, Copy)]
enum Field {
    Magic,
    Version,
    WriteOffset,
    EntryCount,
    Flags,
    FirstLogIndex,
    Marker,
    HeaderCrc,
}

impl Field {
    fn range(self) -> std::ops::Range<usize> {
        match self {
            Field::Magic => 0..4,
            Field::Version => 4..8,
            Field::WriteOffset => 24..32,
            Field::EntryCount => 32..40,
            Field::Flags => 40..44,
            Field::FirstLogIndex => 44..52,
            Field::Marker => 52..56,
            Field::HeaderCrc => 56..60,
        }
    }
}

/// One change to a written segment's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    CutAt(Index),
    Zero(Index, usize),
    /// A header field set to a value (its low bytes), the header CRC then fixed or not.
    SetField(Field, u64, bool),
    /// Zeros appended (a segment longer than its data).
    Extend(usize),
}

/// Where a segment's bytes come from.
#[derive(Debug, Clone)]
enum SegmentSource {
    /// Random bytes.
    Arbitrary(Vec<u8>),
    /// `n` bytes, all zero or all 0xFF (empty, shorter than the header, or an erased file).
    Blank(usize, u8),
    /// A valid header of a segment of the written log, cut at `n < 64` bytes.
    ShortHeader(Index, usize),
    /// A segment of the written log, damaged.
    Written(Index, Vec<Mutation>),
}

/// What an index file holds.
#[derive(Debug, Clone)]
enum IndexSource {
    Missing,
    Empty,
    /// The index file the written segment had (none for other sources).
    Original,
    /// The original cut at any length.
    OriginalCut(Index),
    /// The original with one entry's bytes replaced.
    OriginalPatched(Index, Index, u64),
    /// The original's entries reversed, or one entry duplicated.
    OriginalReordered(bool),
    Garbage(Vec<u8>),
    /// Well-formed entries with chosen offsets and lengths.
    Entries(Vec<(u64, u32)>),
}

/// How a misbehaving storage lists the directory.
#[derive(Debug, Clone, Copy)]
enum Listing {
    Sorted,
    /// One id listed twice.
    Duplicate(Index),
    Reversed,
}

#[derive(Debug, Clone)]
struct Directory {
    written: Written,
    segments: Vec<(u32, SegmentSource, IndexSource)>,
    listing: Listing,
    repair: RepairPolicy,
    verify_sealed: bool,
    /// Arbitrary positions to read.
    probes: Vec<(u32, u64)>,
}

fn written() -> impl Strategy<Value = Written> {
    (
        prop_oneof![Just(256u64), Just(512), Just(1000), Just(4096)],
        prop_oneof![
            Just(0u64),
            1u64..100,
            Just(u64::MAX - 4),
            Just(u64::MAX / 2),
        ],
        prop::collection::vec((0usize..200, prop::bool::weighted(0.2)), 0..14),
    )
        .prop_map(|(segment_size, first_log_index, records)| Written {
            segment_size,
            first_log_index,
            records,
        })
}

fn segment_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..6,
        1 => Just(u32::MAX),
        1 => Just(u32::MAX - 1),
        1 => any::<u32>(),
    ]
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        Just(Field::Magic),
        Just(Field::Version),
        Just(Field::WriteOffset),
        Just(Field::EntryCount),
        Just(Field::Flags),
        Just(Field::FirstLogIndex),
        Just(Field::Marker),
        Just(Field::HeaderCrc),
    ]
}

fn field_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..80,
        (0u64..600).prop_map(|n| n * 8),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(u64::from(u32::MAX)),
        Just(1 << 32),
        // Flags: every combination of the known bits.
        (0u64..32),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        1 => any::<Index>().prop_map(Mutation::CutAt),
        1 => (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Zero(at, len)),
        3 => (field(), field_value(), prop::bool::weighted(0.8))
            .prop_map(|(field, value, fix_crc)| Mutation::SetField(field, value, fix_crc)),
        1 => (1usize..512).prop_map(Mutation::Extend),
    ]
}

/// Most segments intact or damaged once, so that whole directories often open.
fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop_oneof![
        3 => Just(Vec::new()),
        3 => prop::collection::vec(mutation(), 1..2),
        1 => prop::collection::vec(mutation(), 2..5),
    ]
}

fn segment_source() -> impl Strategy<Value = SegmentSource> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(SegmentSource::Arbitrary),
        1 => (0usize..200, prop_oneof![Just(0u8), Just(0xFF)])
            .prop_map(|(n, byte)| SegmentSource::Blank(n, byte)),
        1 => (any::<Index>(), 0usize..64).prop_map(|(at, n)| SegmentSource::ShortHeader(at, n)),
        12 => (any::<Index>(), mutations())
            .prop_map(|(at, mutations)| SegmentSource::Written(at, mutations)),
    ]
}

fn index_source() -> impl Strategy<Value = IndexSource> {
    let offset = prop_oneof![
        Just(0u64),
        Just(8),
        Just(56),
        Just(64),
        (8u64..600).prop_map(|n| n * 8),
        any::<u64>(),
    ];
    let len = prop_oneof![0u32..200, any::<u32>(), Just(u32::MAX)];
    prop_oneof![
        2 => Just(IndexSource::Missing),
        1 => Just(IndexSource::Empty),
        4 => Just(IndexSource::Original),
        1 => any::<Index>().prop_map(IndexSource::OriginalCut),
        2 => (any::<Index>(), any::<Index>(), field_value())
            .prop_map(|(entry, at, value)| IndexSource::OriginalPatched(entry, at, value)),
        1 => any::<bool>().prop_map(IndexSource::OriginalReordered),
        1 => prop::collection::vec(any::<u8>(), 0..100).prop_map(IndexSource::Garbage),
        1 => prop::collection::vec((offset, len), 0..6).prop_map(IndexSource::Entries),
    ]
}

fn directory() -> impl Strategy<Value = Directory> {
    (
        written(),
        prop::collection::vec((segment_id(), segment_source(), index_source()), 0..6),
        prop_oneof![
            4 => Just(Listing::Sorted),
            1 => any::<Index>().prop_map(Listing::Duplicate),
            1 => Just(Listing::Reversed),
        ],
        prop_oneof![
            Just(RepairPolicy::Refuse),
            Just(RepairPolicy::TruncateAtDamage)
        ],
        any::<bool>(),
        prop::collection::vec(
            (
                prop_oneof![segment_id(), Just(1u32)],
                prop_oneof![0u64..700, any::<u64>()],
            ),
            0..6,
        ),
    )
        .prop_map(
            |(written, segments, listing, repair, verify_sealed, probes)| Directory {
                written,
                segments,
                listing,
                repair,
                verify_sealed,
                probes,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Building the directory.

/// A segment image and the index file it had.
type Image = (Vec<u8>, Option<Vec<u8>>);

fn options(segment_size: u64, repair: RepairPolicy, verify_sealed: bool) -> WalOptions {
    WalOptions {
        segment_size,
        repair,
        verify_sealed,
        clock: || 1_700_000_000_000_000_000,
        ..WalOptions::default()
    }
}

fn payload(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + seed * 7 + 1) as u8).collect()
}

/// The segments (and index files) of the written log.
fn write_images(written: &Written) -> Vec<Image> {
    let opts = options(written.segment_size, RepairPolicy::Refuse, false);
    let (mut engine, _) = WalEngine::open(MemStorage::new(), opts).expect("open an empty log");
    let mut log_index = written.first_log_index;
    for (i, &(len, rotate)) in written.records.iter().enumerate() {
        // Payloads that do not fit a segment of this size are refused; keep the rest.
        if engine.append(&payload(len, i), log_index).is_ok() && log_index != 0 {
            log_index = log_index.saturating_add(1);
        }
        if rotate {
            engine.rotate().expect("rotate");
        }
    }
    engine.sync().expect("sync");
    let ids: Vec<SegmentId> = engine.segment_ids().collect();
    let storage = engine.into_storage();
    ids.iter()
        .map(|&id| {
            let bytes = storage.segment_bytes(id).expect("segment").clone();
            (bytes, storage.index(id).map(<[u8]>::to_vec))
        })
        .collect()
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    match *mutation {
        Mutation::FlipBit(at, bit) => {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
        }
        Mutation::CutAt(at) => {
            let len = at.index(bytes.len() + 1);
            bytes.truncate(len);
        }
        Mutation::Zero(at, len) => {
            if !bytes.is_empty() {
                let start = at.index(bytes.len());
                let end = (start + len).min(bytes.len());
                bytes[start..end].fill(0);
            }
        }
        Mutation::SetField(field, value, fix_crc) => {
            if bytes.len() >= HEADER_LEN {
                let range = field.range();
                let width = range.len();
                bytes[range].copy_from_slice(&value.to_le_bytes()[..width]);
                if fix_crc && !matches!(field, Field::HeaderCrc) {
                    let crc = crc32c(&bytes[..56]);
                    bytes[56..60].copy_from_slice(&crc.to_le_bytes());
                }
            }
        }
        Mutation::Extend(n) => bytes.resize(bytes.len() + n, 0),
    }
}

fn segment_bytes(source: &SegmentSource, images: &[Image]) -> (Vec<u8>, Option<Vec<u8>>) {
    match source {
        SegmentSource::Arbitrary(bytes) => (bytes.clone(), None),
        SegmentSource::Blank(n, byte) => (vec![*byte; *n], None),
        SegmentSource::ShortHeader(at, n) => {
            let (bytes, _) = &images[at.index(images.len())];
            (bytes[..*n].to_vec(), None)
        }
        SegmentSource::Written(at, mutations) => {
            let (mut bytes, index) = images[at.index(images.len())].clone();
            for mutation in mutations {
                mutate(&mut bytes, mutation);
            }
            (bytes, index)
        }
    }
}

fn index_bytes(source: &IndexSource, original: Option<&[u8]>) -> Option<Vec<u8>> {
    let original = original.unwrap_or(&[]);
    match source {
        IndexSource::Missing => None,
        IndexSource::Empty => Some(Vec::new()),
        IndexSource::Original => (!original.is_empty()).then(|| original.to_vec()),
        IndexSource::OriginalCut(at) => Some(original[..at.index(original.len() + 1)].to_vec()),
        IndexSource::OriginalPatched(entry, at, value) => {
            let mut bytes = original.to_vec();
            let entries = bytes.len() / 16;
            if entries > 0 {
                // Replace the offset (bytes 0..8) or the length (8..12) of one entry.
                let start = entry.index(entries) * 16;
                if at.index(2) == 0 {
                    bytes[start..start + 8].copy_from_slice(&value.to_le_bytes());
                } else {
                    bytes[start + 8..start + 12].copy_from_slice(&value.to_le_bytes()[..4]);
                }
            }
            Some(bytes)
        }
        IndexSource::OriginalReordered(reverse) => {
            let mut entries: Vec<&[u8]> = original.chunks(16).collect();
            if *reverse {
                entries.reverse();
            } else if let Some(&first) = entries.first() {
                entries.push(first);
            }
            Some(entries.concat())
        }
        IndexSource::Garbage(bytes) => Some(bytes.clone()),
        IndexSource::Entries(entries) => Some(
            entries
                .iter()
                .flat_map(|&(offset, len)| {
                    let mut entry = [0u8; 16];
                    entry[..8].copy_from_slice(&offset.to_le_bytes());
                    entry[8..12].copy_from_slice(&len.to_le_bytes());
                    entry
                })
                .collect(),
        ),
    }
}

impl Listing {
    /// What a backend with this bug does to a correct listing.
    fn apply(self, mut ids: Vec<SegmentId>) -> Vec<SegmentId> {
        match self {
            Listing::Sorted => {}
            Listing::Duplicate(at) => {
                if !ids.is_empty() {
                    let i = at.index(ids.len());
                    ids.insert(i, ids[i]);
                }
            }
            Listing::Reversed => ids.reverse(),
        }
        ids
    }
}

fn build(directory: &Directory) -> RelistedStorage {
    let images = write_images(&directory.written);
    let mut storage = MemStorage::new();
    for (id, source, index) in &directory.segments {
        let (bytes, original_index) = segment_bytes(source, &images);
        storage.put_segment(SegmentId(*id), bytes);
        storage.put_index(
            SegmentId(*id),
            index_bytes(index, original_index.as_deref()),
        );
    }
    let listing = directory.listing;
    RelistedStorage::new(storage, move |ids| listing.apply(ids))
}

// ---------------------------------------------------------------------------------------------
// Checks.

type Engine = WalEngine<RelistedStorage>;

/// Every record a cursor yields, walking the whole log; after an error in a segment the walk
/// goes on in the next one.
fn walk(engine: &mut Engine, step_limit: usize) -> Vec<(Position, Vec<u8>)> {
    let ids: Vec<SegmentId> = engine.segment_ids().collect();
    let mut records = Vec::new();
    let Some(&first) = ids.first() else {
        return records;
    };
    let mut cursor = WalCursor::new(first);
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(
            steps <= step_limit,
            "the cursor did not reach the end of the log in {step_limit} steps"
        );
        match cursor.next(engine) {
            Ok(WalStep::Record(position, frame)) => {
                let mut buf = vec![0; frame.payload_len as usize];
                let payload = engine
                    .read_payload(position.segment, &frame, &mut buf)
                    .expect("a record the cursor yielded reads its payload")
                    .to_vec();
                records.push((position, payload));
            }
            Ok(WalStep::NoNewData) => return records,
            Err(error) => {
                let _ = error.to_string();
                let segment = cursor.next_position().segment;
                match ids.iter().find(|&&id| id > segment) {
                    Some(&next) => cursor = WalCursor::new(next),
                    None => return records,
                }
            }
        }
    }
}

/// Reads the record at `position`, if it reads.
fn read(engine: &mut Engine, position: Position) -> Option<Vec<u8>> {
    let frame = engine.read(position).ok()?;
    assert_eq!(
        frame.offset, position.offset,
        "read returns the record asked for"
    );
    let mut buf = vec![0; frame.payload_len as usize];
    let payload = engine
        .read_payload(position.segment, &frame, &mut buf)
        .ok()?
        .to_vec();
    if let Some(view) = engine.payload(position.segment, &frame) {
        assert_eq!(view, payload.as_slice(), "zero-copy view and copy agree");
    }
    Some(payload)
}

fn check_log_index(engine: &mut Engine) {
    let mut queries = vec![0, 1, u64::MAX, u64::MAX - 1];
    if let Some((first, last)) = engine.log_index_bounds() {
        // Not asserted: `first <= last`. Segments whose first indexes are out of id order (a
        // directory assembled from two logs) give bounds such as (2, 1); lookups still answer.
        for around in [first, last] {
            queries.extend([around.wrapping_sub(1), around, around.saturating_add(1)]);
        }
    }
    let listed: Vec<(SegmentId, u64, usize)> = engine
        .segment_infos()
        .map(|info| {
            (
                info.id,
                info.first_log_index.unwrap_or(0),
                info.record_count as usize,
            )
        })
        .collect();
    for (_, first, count) in &listed {
        if *first != 0 {
            for i in 0..(*count).min(64) as u64 {
                queries.push(first.saturating_add(i));
            }
        }
    }
    for query in queries {
        match engine.position_for_index(query) {
            Ok(position) => {
                let frames: Vec<u64> = engine
                    .record_frames(position.segment)
                    .expect("position_for_index loaded the segment's record table")
                    .expect("position_for_index names a segment of the log")
                    .map(|frame| frame.offset)
                    .collect();
                assert!(
                    frames.contains(&position.offset),
                    "position_for_index({query}) = {position:?} is a listed record"
                );
                let _ = read(engine, position);
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
    let _ = engine.next_log_index();
}

fn check_open_log(engine: &mut Engine, directory: &Directory, step_limit: usize) {
    let _ = engine.segment_infos().count();
    let records = walk(engine, step_limit);
    for (position, payload) in &records {
        assert_eq!(
            read(engine, *position).as_ref(),
            Some(payload),
            "the record at {position:?} that the cursor yielded reads the same"
        );
    }
    let listed: Vec<Position> = engine
        .segment_ids()
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|id| {
            engine
                .record_frames(id)
                .ok() // a sealed segment's index file is read lazily: a typed error is allowed
                .flatten()
                .into_iter()
                .flatten()
                .map(move |frame| Position::new(id, frame.offset))
                .collect::<Vec<_>>()
        })
        .collect();
    for position in listed {
        let _ = read(engine, position);
    }
    for &(id, offset) in &directory.probes {
        let _ = read(engine, Position::new(SegmentId(id), offset));
    }
    check_log_index(engine);

    // Append, sync, reopen: nothing read before is lost.
    let next = engine.next_log_index().unwrap_or(0);
    let appended = match engine.append(b"after reopen", next) {
        Ok(position) => Some(position),
        Err(error) => {
            let _ = error.to_string();
            None
        }
    };
    let synced = engine.sync().map_err(|error| error.to_string());
    let opts = *engine.options();
    let storage = std::mem::replace(engine, placeholder()).into_storage();
    let (mut reopened, _) = WalEngine::open(storage, opts).unwrap_or_else(|error| {
        panic!("a log that opened, appended to and synced ({synced:?}) reopens: {error}")
    });
    for (position, payload) in &records {
        assert_eq!(
            read(&mut reopened, *position).as_ref(),
            Some(payload),
            "the record at {position:?} read before the append reads the same after reopen"
        );
    }
    if let (Some(position), Ok(())) = (appended, synced) {
        assert_eq!(
            read(&mut reopened, position).as_deref(),
            Some(&b"after reopen"[..]),
            "the appended, synced record reads back after reopen"
        );
    }
    let _ = walk(&mut reopened, step_limit + 2);
    check_log_index(&mut reopened);
}

/// An engine over an empty storage, to move the real one out of a `&mut`.
fn placeholder() -> Engine {
    let storage = RelistedStorage::new(MemStorage::new(), |ids| ids);
    WalEngine::open(storage, options(256, RepairPolicy::Refuse, false))
        .expect("open an empty log")
        .0
}

/// One case: build the directory, open it, check what opened. Runs on the calling thread.
fn run_case(directory: &Directory) {
    let mut storage = build(directory);
    let ids = storage.inner.list_segments().expect("list the directory");
    let total_bytes: usize = ids
        .iter()
        .map(|&id| {
            storage
                .inner
                .segment_bytes(id)
                .map_or(0, |bytes| bytes.len())
        })
        .sum();
    // Every record takes at least 16 bytes; segments change at most once per id, plus the one
    // the engine may create.
    let step_limit = total_bytes / 16 + 4 * (directory.segments.len() + 4) + 64;
    let opts = options(
        directory.written.segment_size,
        directory.repair,
        directory.verify_sealed,
    );
    LARGEST_ALLOC.with(|largest| largest.set(0));
    let opened = WalEngine::open(storage, opts);
    match opened {
        Ok((mut engine, report)) => {
            let _ = format!("{report:?}");
            check_open_log(&mut engine, directory, step_limit);
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    let largest = LARGEST_ALLOC.with(|largest| largest.replace(usize::MAX));
    assert!(
        largest <= ALLOC_LIMIT,
        "one allocation asked for {largest} bytes (limit {ALLOC_LIMIT}): a length read from the input sized it"
    );
}

/// Runs a case on its own thread, so a hang is reported instead of stalling the test run.
fn run_case_with_time_limit(directory: &Directory) {
    let (done, finished) = mpsc::channel();
    let case = directory.clone();
    let handle = std::thread::spawn(move || {
        run_case(&case);
        let _ = done.send(());
    });
    match finished.recv_timeout(CASE_TIME_LIMIT) {
        Ok(()) => handle.join().expect("the case thread finished"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the case thread ended without reporting"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the case did not finish in {CASE_TIME_LIMIT:?}: a hang")
        }
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "bad_input_open",
        "any_directory_opens_to_an_error_or_a_log_that_keeps_its_records",
        4000,
    ))]
    #[test]
    fn any_directory_opens_to_an_error_or_a_log_that_keeps_its_records(directory in directory()) {
        run_case_with_time_limit(&directory);
    }
}
