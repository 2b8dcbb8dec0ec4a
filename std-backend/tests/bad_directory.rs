//! `Wal::open` on real directories holding stray and hostile entries: every one opens to a typed
//! error that names the file, or to a valid log that ignores the stray entry and leaves it
//! untouched (SPEC §1.1, §3.7: only canonical names `<id, at least 9 digits><ext>` of entries that
//! are not directories are segments; everything else is left alone, never deleted).
//!
//! One named test per case (non-canonical names, signs and spaces, id 0, a directory or a
//! dangling symlink named like a segment, a symlink to a segment, zero-length and short segment
//! files, index files without a segment, files left by an interrupted index write, a lock file),
//! and a property test over random names drawn from a small alphabet around the naming pattern:
//! whatever the names, the open returns (no panic), stray files keep their bytes, and the records
//! of the real segment are all there. A second property test puts damaged segment files (random
//! bytes, or real sealed and unsealed segments cut and bit-flipped) and index files (missing,
//! real, garbage) under canonical names: the open returns a typed error or a log whose records,
//! read by a reader that reaches an end, all read the same after an append, a sync and a reopen.
//!
//! Replaying a failure of the property test: it prints its RNG seed and
//! `PROPTEST_RNG_SEED=<seed> cargo test -p walfs --test bad_directory -- --exact <test>`.
#![cfg(not(loom))]

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use walfs::{Error, Options, SegmentId, Wal};

mod common;
use common::read_all;

const SEGMENT_SIZE: u64 = 4096;

fn options() -> Options {
    Options::new().segment_size(SEGMENT_SIZE)
}

/// The bytes of a valid, unsealed segment holding records `b"r0"`, `b"r1"`, `b"r2"`.
fn segment_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), options()).unwrap();
    for i in 0..3 {
        wal.append(format!("r{i}").as_bytes()).unwrap();
    }
    wal.close().unwrap();
    fs::read(dir.path().join("000000001.wal")).unwrap()
}

/// A directory with segment 1 holding three records, and `stray` written next to it.
fn dir_with_segment_and(stray: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("000000001.wal"), segment_bytes()).unwrap();
    for (name, bytes) in stray {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

/// Opens `dir`: the log has exactly the three records of segment 1, and every stray file still
/// holds its bytes.
fn assert_ignored(dir: &Path, stray: &[(&str, &[u8])]) {
    let wal = Wal::open(dir, options()).unwrap();
    let payloads: Vec<Vec<u8>> = read_all(&wal).into_iter().map(|(_, p)| p).collect();
    assert_eq!(payloads, [b"r0".to_vec(), b"r1".to_vec(), b"r2".to_vec()]);
    assert_eq!(
        wal.segments().iter().map(|s| s.id).collect::<Vec<_>>(),
        [SegmentId(1)]
    );
    let position = wal.append(b"more").unwrap();
    wal.sync().unwrap();
    wal.close().unwrap();
    let wal = Wal::open(dir, options()).unwrap();
    assert_eq!(&*wal.read(position).unwrap(), b"more");
    drop(wal);
    for (name, bytes) in stray {
        assert_eq!(
            fs::read(dir.join(name)).unwrap(),
            *bytes,
            "{name} is left untouched"
        );
    }
}

/// The error names the file (its path, or the segment id of a canonical name).
fn assert_names(error: &Error, name: &str, id: u32) {
    let message = error.to_string();
    assert!(
        message.contains(name) || message.contains(&format!("segment {id}")),
        "the error names {name}: {message}"
    );
}

#[test]
fn a_non_numeric_name_abc_wal_is_ignored() {
    let stray: &[(&str, &[u8])] = &[("abc.wal", b"abc"), ("000000001a.wal", b"x")];
    let dir = dir_with_segment_and(stray);
    assert_ignored(dir.path(), stray);
}

#[test]
fn a_short_name_1_wal_holding_a_segment_is_ignored_and_not_mapped_onto_segment_1() {
    let bytes = segment_bytes();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("1.wal"), &bytes).unwrap();
    let wal = Wal::open(dir.path(), options()).unwrap();
    assert!(read_all(&wal).is_empty(), "1.wal is not segment 1");
    drop(wal);
    assert_eq!(fs::read(dir.path().join("1.wal")).unwrap(), bytes);
}

#[test]
fn names_of_the_wrong_width_are_ignored() {
    let bytes = segment_bytes();
    // Ten digits for id 1 and eight zeros: not canonical (`000000001.wal`, `000000000.wal`).
    let stray: &[(&str, &[u8])] = &[("0000000001.wal", &bytes), ("00000000.wal", &bytes)];
    let dir = dir_with_segment_and(stray);
    assert_ignored(dir.path(), stray);
}

#[test]
fn ids_with_signs_or_spaces_are_ignored() {
    let bytes = segment_bytes();
    let stray: &[(&str, &[u8])] = &[
        ("+00000002.wal", &bytes),
        ("-00000002.wal", &bytes),
        (" 00000002.wal", &bytes),
        ("000000002 .wal", &bytes),
        ("000000002.wal ", &bytes),
        ("00000 0002.wal", &bytes),
        ("000000002.WAL", &bytes),
        ("000000002.wal~", &bytes),
        ("0x0000002.wal", &bytes),
    ];
    let dir = dir_with_segment_and(stray);
    assert_ignored(dir.path(), stray);
}

#[test]
fn an_id_above_u32_max_is_not_a_segment() {
    let bytes = segment_bytes();
    let stray: &[(&str, &[u8])] = &[("4294967296.wal", &bytes), ("99999999999.wal", &bytes)];
    let dir = dir_with_segment_and(stray);
    assert_ignored(dir.path(), stray);
}

#[test]
fn segment_id_0_is_a_segment_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("000000000.wal"), segment_bytes()).unwrap();
    let wal = Wal::open(dir.path(), options()).unwrap();
    let records = read_all(&wal);
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|(p, _)| p.segment == SegmentId(0)));
}

#[test]
fn segment_id_u32_max_opens_and_rotation_past_it_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("4294967295.wal"), segment_bytes()).unwrap();
    let wal = Wal::open(dir.path(), options()).unwrap();
    assert_eq!(read_all(&wal).len(), 3);
    let error = wal.rotate().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Wal(walfs::core::Error::SegmentIdOverflow { .. })
        ),
        "{error:?}"
    );
}

#[test]
fn a_directory_named_like_a_segment_is_ignored_but_blocks_creating_that_segment_by_name() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("000000001.wal")).unwrap();
    let error = Wal::open(dir.path(), options()).unwrap_err();
    assert_names(&error, "000000001.wal", 1);
    assert!(dir.path().join("000000001.wal").is_dir(), "left in place");
}

#[test]
fn a_symlink_to_a_segment_is_opened_as_that_segment() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("kept-elsewhere");
    fs::write(&target, segment_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("000000001.wal")).unwrap();
    let wal = Wal::open(dir.path(), options()).unwrap();
    let payloads: Vec<Vec<u8>> = read_all(&wal).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        payloads,
        [b"r0".to_vec(), b"r1".to_vec(), b"r2".to_vec()],
        "the records behind the link are not silently dropped"
    );
}

#[test]
fn a_dangling_symlink_named_like_a_segment_fails_open_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/nonexistent/walfs", dir.path().join("000000001.wal")).unwrap();
    let error = Wal::open(dir.path(), options()).unwrap_err();
    assert_names(&error, "000000001.wal", 1);
}

#[test]
fn a_zero_length_last_segment_is_the_trace_of_an_interrupted_creation_and_is_removed() {
    let dir = dir_with_segment_and(&[]);
    // Segment 1 sealed by a rotation, then a crash right after segment 2 was created.
    let wal = Wal::open(dir.path(), options()).unwrap();
    wal.rotate().unwrap();
    wal.close().unwrap();
    fs::write(dir.path().join("000000002.wal"), b"").unwrap();
    let (wal, report) = Wal::open_with_report(dir.path(), options()).unwrap();
    assert_eq!(report.removed_unwritten, Some(SegmentId(2)), "{report:?}");
    assert_eq!(read_all(&wal).len(), 3);
    wal.append(b"more").unwrap();
}

#[test]
fn a_zero_length_segment_before_the_last_is_a_typed_error_naming_it() {
    let dir = dir_with_segment_and(&[]);
    fs::write(dir.path().join("000000000.wal"), b"").unwrap();
    let error = Wal::open(dir.path(), options()).unwrap_err();
    assert_names(&error, "000000000.wal", 0);
}

#[test]
fn a_last_segment_shorter_than_its_header_is_removed_as_never_written() {
    let dir = dir_with_segment_and(&[]);
    let wal = Wal::open(dir.path(), options()).unwrap();
    wal.rotate().unwrap();
    wal.close().unwrap();
    let header = fs::read(dir.path().join("000000002.wal")).unwrap();
    fs::write(dir.path().join("000000002.wal"), &header[..40]).unwrap();
    let (wal, report) = Wal::open_with_report(dir.path(), options()).unwrap();
    assert_eq!(report.removed_unwritten, Some(SegmentId(2)), "{report:?}");
    assert_eq!(read_all(&wal).len(), 3);
}

#[test]
fn a_segment_shorter_than_its_header_with_a_later_segment_is_a_typed_error_naming_it() {
    let dir = dir_with_segment_and(&[]);
    let bytes = segment_bytes();
    fs::write(dir.path().join("000000000.wal"), &bytes[..40]).unwrap();
    let error = Wal::open(dir.path(), options()).unwrap_err();
    assert_names(&error, "000000000.wal", 0);
}

#[test]
fn index_files_without_a_segment_are_ignored() {
    let stray: &[(&str, &[u8])] = &[
        (
            "000000005.wal.idx",
            &[0x40, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0],
        ),
        ("000000000.wal.idx", b"garbage"),
        ("abc.wal.idx", b""),
    ];
    let dir = dir_with_segment_and(stray);
    assert_ignored(dir.path(), stray);
}

#[test]
fn temp_files_of_an_interrupted_index_write_are_removed_or_ignored() {
    // walfs' own temp files (`<index>.tmp<pid>-<n>.walfs`) are removed at open; the Go
    // original's (`<index>.tmp<digits>`) and other names are left alone.
    let dir = dir_with_segment_and(&[
        ("000000001.wal.idx.tmp123-1.walfs", b"partial"),
        ("000000001.wal.idx.tmp987654", b"partial"),
    ]);
    let go_temp: &[(&str, &[u8])] = &[("000000001.wal.idx.tmp987654", b"partial")];
    assert_ignored(dir.path(), go_temp);
    assert!(
        !dir.path().join("000000001.wal.idx.tmp123-1.walfs").exists(),
        "walfs' stale temp file is removed"
    );
}

#[test]
fn a_lock_file_left_behind_is_ignored() {
    // walfs locks the directory itself (flock), so no lock file is needed; names other programs
    // use for lock files are stray files like any other.
    let stray: &[(&str, &[u8])] = &[("LOCK", b"12345"), (".lock", b""), ("wal.lock", b"pid")];
    let dir = dir_with_segment_and(stray);
    assert_ignored(dir.path(), stray);
}

// ---------------------------------------------------------------------------------------------
// Property test: random names around the naming pattern.

fn config(test: &str, cases: u32) -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or_else(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
        });
    eprintln!(
        "{test}: proptest RNG seed {seed}; replay this run with\n  \
         PROPTEST_RNG_SEED={seed} cargo test -p walfs --test bad_directory -- --exact {test}"
    );
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    }
}

/// A name from the alphabet of segment names: digits (mostly 0 and 1), '.', "wal", "idx",
/// "tmp", signs and spaces.
fn name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => Just("0"),
        3 => Just("1"),
        1 => Just("2"),
        1 => Just("9"),
        2 => Just(".wal"),
        1 => Just(".idx"),
        1 => Just(".tmp"),
        1 => Just("wal"),
        1 => Just("."),
        1 => Just("+"),
        1 => Just("-"),
        1 => Just(" "),
        1 => Just("a"),
    ];
    prop_oneof![
        // The canonical pattern with noise: digits then ".wal" then an optional tail.
        3 => (
            prop::collection::vec(prop_oneof![4 => Just("0"), 1 => Just("1"), 1 => Just("7")], 1..12),
            prop::collection::vec(piece.clone(), 0..3),
        )
            .prop_map(|(digits, tail)| format!("{}.wal{}", digits.concat(), tail.concat())),
        2 => prop::collection::vec(piece, 1..14).prop_map(|pieces| pieces.concat()),
    ]
    .prop_filter("a usable file name", |name| {
        !name.is_empty() && name != "." && name != ".." && name != "000000001.wal"
    })
}

#[derive(Debug, Clone)]
enum Entry {
    /// A file with these bytes: 0 = empty, 1 = a copy of the real segment, 2 = garbage.
    File(u8),
    Dir,
    Symlink,
}

fn entries() -> impl Strategy<Value = Vec<(String, Entry)>> {
    prop::collection::vec(
        (
            name(),
            prop_oneof![
                6 => (0u8..3).prop_map(Entry::File),
                1 => Just(Entry::Dir),
                1 => Just(Entry::Symlink),
            ],
        ),
        1..8,
    )
}

/// Whether `name` is a canonical segment name (`<id, at least 9 digits>.wal`, id a u32).
fn is_canonical(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".wal") else {
        return false;
    };
    stem.len() >= 9
        && stem.bytes().all(|b| b.is_ascii_digit())
        && stem
            .parse::<u32>()
            .is_ok_and(|id| format!("{id:09}") == stem)
}

proptest! {
    #![proptest_config(config("random_names_around_the_pattern_open_without_panic_and_keep_records", 48))]
    #[test]
    fn random_names_around_the_pattern_open_without_panic_and_keep_records(entries in entries()) {
        let segment = segment_bytes();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("000000001.wal"), &segment).unwrap();
        let mut files = Vec::new();
        for (name, entry) in &entries {
            let path = dir.path().join(name);
            if fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            match entry {
                Entry::File(kind) => {
                    let bytes = match kind {
                        0 => Vec::new(),
                        1 => segment.clone(),
                        _ => name.bytes().cycle().take(100).collect(),
                    };
                    fs::write(&path, &bytes).unwrap();
                    files.push((name.clone(), bytes));
                }
                Entry::Dir => fs::create_dir(&path).unwrap(),
                Entry::Symlink => std::os::unix::fs::symlink("000000001.wal", &path).unwrap(),
            }
        }
        let any_canonical = entries.iter().any(|(name, _)| is_canonical(name));
        match Wal::open_with_report(dir.path(), options()) {
            Ok((wal, report)) => {
                let records = read_all(&wal);
                let ones = records
                    .iter()
                    .filter(|(p, _)| p.segment == SegmentId(1))
                    .count();
                // A copy of segment 1 (unsealed, watermarked) under id 0 looks exactly like the
                // target of an interrupted truncation: segment 1 is then removed as its
                // leftover, and the report says so (SPEC §13).
                if !report.removed_leftovers.contains(&SegmentId(1)) {
                    prop_assert_eq!(ones, 3, "segment 1 keeps its records");
                }
                let _ = wal.append(b"more");
                drop(wal);
            }
            Err(error) => {
                let _ = error.to_string();
                prop_assert!(
                    any_canonical,
                    "only a canonical name can fail the open: {}", error
                );
            }
        }
        for (name, bytes) in &files {
            if !is_canonical(name) {
                prop_assert_eq!(&fs::read(dir.path().join(name)).unwrap(), bytes, "{} untouched", name);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property test: damaged segment and index files on a real file system (the mmap path).

/// The files of a log with a sealed segment 1 (records `s0`..`s3`, and its index file) and an
/// unsealed segment 2 (records `u0`, `u1`).
fn two_segment_files() -> [(Vec<u8>, Option<Vec<u8>>); 2] {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), options()).unwrap();
    for i in 0..4 {
        wal.append(format!("s{i}").as_bytes()).unwrap();
    }
    wal.rotate().unwrap();
    for i in 0..2 {
        wal.append(format!("u{i}").as_bytes()).unwrap();
    }
    wal.close().unwrap();
    let file = |name: &str| fs::read(dir.path().join(name)).ok();
    [
        (file("000000001.wal").unwrap(), file("000000001.wal.idx")),
        (file("000000002.wal").unwrap(), None),
    ]
}

#[derive(Debug, Clone)]
enum Content {
    Arbitrary(Vec<u8>),
    /// One of the two real segments, cut to a length, with bits flipped.
    Real(bool, prop::sample::Index, Vec<(prop::sample::Index, u8)>),
}

#[derive(Debug, Clone)]
enum IndexContent {
    Missing,
    Real,
    Garbage(Vec<u8>),
}

fn damaged_files() -> impl Strategy<Value = Vec<(u32, Content, IndexContent)>> {
    let content = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Content::Arbitrary),
        4 => (
            any::<bool>(),
            any::<prop::sample::Index>(),
            prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 0..3),
        )
            .prop_map(|(sealed, cut, flips)| Content::Real(sealed, cut, flips)),
    ];
    let index = prop_oneof![
        1 => Just(IndexContent::Missing),
        2 => Just(IndexContent::Real),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(IndexContent::Garbage),
    ];
    prop::collection::vec((0u32..4, content, index), 1..4)
}

proptest! {
    #![proptest_config(config("damaged_segment_files_open_to_an_error_or_a_log_that_keeps_its_records", 32))]
    #[test]
    fn damaged_segment_files_open_to_an_error_or_a_log_that_keeps_its_records(
        files in damaged_files()
    ) {
        let real = two_segment_files();
        let dir = tempfile::tempdir().unwrap();
        for (id, content, index) in &files {
            let name = format!("{id:09}.wal");
            let (bytes, real_index) = match content {
                Content::Arbitrary(bytes) => (bytes.clone(), None),
                Content::Real(sealed, cut, flips) => {
                    let (bytes, index) = &real[usize::from(!*sealed)];
                    // Cut at any length, though mostly keep the whole file.
                    let len = if cut.index(4) == 0 { cut.index(bytes.len() + 1) } else { bytes.len() };
                    let mut bytes = bytes[..len].to_vec();
                    for (at, bit) in flips {
                        if !bytes.is_empty() {
                            // Flips land in the header and the first records.
                            let i = at.index(bytes.len().min(256));
                            bytes[i] ^= 1 << bit;
                        }
                    }
                    (bytes, index.clone())
                }
            };
            fs::write(dir.path().join(&name), &bytes).unwrap();
            let index_bytes = match index {
                IndexContent::Missing => None,
                IndexContent::Real => real_index,
                IndexContent::Garbage(bytes) => Some(bytes.clone()),
            };
            if let Some(index_bytes) = index_bytes {
                fs::write(dir.path().join(format!("{name}.idx")), index_bytes).unwrap();
            }
        }
        let opened = Wal::open(dir.path(), options());
        let Ok(wal) = opened else {
            let _ = opened.map(|_| ()).unwrap_err().to_string();
            return Ok(());
        };
        // Walk with a reader until the end or the first error, in a bounded number of steps.
        let mut reader = wal.reader();
        let mut records = Vec::new();
        for _ in 0..10_000 {
            match reader.next() {
                Ok(Some(record)) => records.push((record.position(), record.payload().to_vec())),
                Ok(None) | Err(_) => break,
            }
        }
        prop_assert!(records.len() < 10_000, "the reader reaches an end");
        drop(reader);
        let appended = wal.append(b"more").ok();
        let synced = wal.sync().is_ok();
        drop(wal);
        let wal = Wal::open(dir.path(), options());
        prop_assert!(wal.is_ok(), "a log that opened reopens: {:?}", wal.err());
        let wal = wal.unwrap();
        for (position, payload) in &records {
            let view = wal.read(*position);
            prop_assert!(view.is_ok(), "{:?} still reads: {:?}", position, view.err());
            prop_assert_eq!(&*view.unwrap(), payload.as_slice());
        }
        if let (Some(position), true) = (appended, synced) {
            prop_assert_eq!(&*wal.read(position).unwrap(), b"more");
        }
    }
}
