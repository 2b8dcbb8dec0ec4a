#![cfg(not(loom))]
//! The `walfs` binary (feature `cli`), run as a process against copies of the Go fixtures
//! (`tests/fixtures/go-walfs`, checked against their manifests) and against WALs these tests write
//! and damage: verify's exit codes, dump's exact jsonl, inspect's totals, tail following
//! rotation, bench, one-line errors, and that the read-only commands leave every byte (and every
//! file time) of a directory as it was, even while a writer holds the WAL open.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};
use walfs::{Options, Position, Wal};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/go-walfs");

fn walfs(args: &[&str], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_walfs"));
    if let Some((name, rest)) = args.split_first() {
        command.arg(name).arg(dir).args(rest);
    }
    command.output().expect("run walfs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("walfs exited by a signal")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A scratch copy of a fixture's `wal/` directory.
fn copy_case(case: &str) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("wal");
    copy_dir(&Path::new(FIXTURES).join(case).join("wal"), &dir);
    (temp, dir)
}

fn manifest(case: &str) -> Value {
    let text = fs::read_to_string(Path::new(FIXTURES).join(case).join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hex_decode(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Every file of `dir`: name → (length, SHA-256, modification time).
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, String, SystemTime)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            let bytes = fs::read(entry.path()).unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                (
                    metadata.len(),
                    sha256_hex(&bytes),
                    metadata.modified().unwrap(),
                ),
            )
        })
        .collect()
}

fn flip_byte(file: &Path, offset: u64) {
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut byte).unwrap();
    byte[0] ^= 0x01;
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&byte).unwrap();
    file.sync_all().unwrap();
}

/// The error output is one line naming `file`, and no panic.
fn assert_one_line_error(output: &Output, file: &str) {
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with("walfs: "), "{err:?}");
    assert!(err.contains(file), "{err:?} should name {file}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// verify

#[test]
fn verify_exit_codes_on_the_go_fixtures() {
    let expected = [
        ("01-single-active", 0, "clean:"),
        ("02-rotated-mixed", 0, "clean:"),
        ("03-batch-logindex", 0, "clean:"),
        ("04-custom-marker", 0, "clean:"),
        // Go segments carry no durable watermark: every bad frame in an active one is a torn tail.
        ("05-torn-tail", 1, "torn tail:"),
        ("06-bad-crc-active", 1, "torn tail:"),
        ("07-garbage-tail", 1, "torn tail:"),
        ("08-sealed-missing-index", 0, "clean:"),
        ("09-bad-crc-sealed", 2, "corruption:"),
        ("10-bad-header-crc", 3, "cannot read:"),
        ("11-all-sealed", 0, "clean:"),
        ("12-stale-active-header", 0, "clean:"),
        ("13-unsealed-earlier-segment", 0, "clean:"),
    ];
    for (case, exit, summary) in expected {
        let (_temp, dir) = copy_case(case);
        let output = walfs(&["verify"], &dir);
        let out = stdout(&output);
        assert_eq!(code(&output), exit, "{case}: {out}{}", stderr(&output));
        let last = out.lines().last().unwrap_or_default();
        assert!(last.starts_with(summary), "{case}: {last}");
        let records: u64 = manifest(case)["go_open_and_read"]["end"]["count"]
            .as_u64()
            .unwrap();
        if exit == 0 {
            assert!(
                last.contains(&format!(" {records} records")),
                "{case}: {last}"
            );
        }
    }
}

#[test]
fn verify_names_the_damage() {
    let (_temp, dir) = copy_case("05-torn-tail");
    let out = stdout(&walfs(&["verify"], &dir));
    assert!(
        out.contains("000000001.wal: active, 99 records, then a torn tail at offset 7168"),
        "{out}"
    );
    let (_temp, dir) = copy_case("06-bad-crc-active");
    let out = stdout(&walfs(&["verify"], &dir));
    assert!(
        out.contains("torn tail at offset 3592: record CRC mismatch"),
        "{out}"
    );
    assert!(out.contains("49 valid-looking records after it"), "{out}");
    // Case 09: record 20 (log index 21) of sealed segment 1 is damaged; 200 follow it there.
    let (_temp, dir) = copy_case("09-bad-crc-sealed");
    let out = stdout(&walfs(&["verify"], &dir));
    assert!(
        out.contains(
            "000000001.wal: sealed, 20 records, then CORRUPTION at offset 6560: record CRC mismatch"
        ),
        "{out}"
    );
    assert!(out.contains("200 records after it would be lost"), "{out}");
    assert!(
        out.contains("000000002.wal: sealed, 214 records, ok"),
        "{out}"
    );
    // Case 10: segment 2's header does not decode.
    let (_temp, dir) = copy_case("10-bad-header-crc");
    let out = stdout(&walfs(&["verify"], &dir));
    assert!(
        out.contains("000000002.wal: corrupt at offset 0: segment header CRC mismatch"),
        "{out}"
    );
    // Case 08: informs about the missing index file without failing.
    let (_temp, dir) = copy_case("08-sealed-missing-index");
    let out = stdout(&walfs(&["verify"], &dir));
    assert!(out.contains("index file is missing"), "{out}");
}

#[test]
fn verify_cannot_read_a_missing_or_empty_directory() {
    let temp = tempfile::tempdir().unwrap();
    let missing = temp.path().join("nowhere");
    let output = walfs(&["verify"], &missing);
    assert_eq!(code(&output), 3);
    assert_one_line_error(&output, "nowhere");
    assert!(!missing.exists(), "verify must not create the directory");

    let empty = temp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let output = walfs(&["verify"], &empty);
    assert_eq!(code(&output), 3);
    assert_one_line_error(&output, "empty");
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);

    let file = temp.path().join("plain-file");
    fs::write(&file, b"not a directory").unwrap();
    let output = walfs(&["verify"], &file);
    assert_eq!(code(&output), 3);
    assert_one_line_error(&output, "plain-file");
}

/// A walfs WAL of 40 records of 100 bytes in 64 KiB segments, synced and closed (so its durable
/// watermark covers every record); returns the positions.
fn write_synced_wal(dir: &Path) -> Vec<Position> {
    let wal = Wal::open(dir, Options::new().segment_size(64 * 1024)).unwrap();
    let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100]).collect();
    let positions = wal.append_batch_indexed(&payloads, 1).unwrap();
    wal.close().unwrap();
    positions
}

#[test]
fn verify_tells_corruption_of_synced_records_from_a_torn_tail() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("wal");
    let positions = write_synced_wal(&dir);
    assert_eq!(code(&walfs(&["verify"], &dir)), 0);

    // A payload byte of record 10, below the durable watermark: corruption.
    let segment = dir.join("000000001.wal");
    flip_byte(&segment, positions[10].offset + 8 + 3);
    let output = walfs(&["verify"], &dir);
    let out = stdout(&output);
    assert_eq!(code(&output), 2, "{out}");
    assert!(
        out.contains(&format!(
            "000000001.wal: active, 10 records, then CORRUPTION at offset {}",
            positions[10].offset
        )),
        "{out}"
    );
    assert!(out.contains("29 records after it would be lost"), "{out}");

    // Records appended after the last sync and damaged: a torn tail.
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("wal");
    let wal = Wal::open(&dir, Options::new().segment_size(64 * 1024)).unwrap();
    for i in 0..10u8 {
        wal.append(&[i; 100]).unwrap();
    }
    wal.sync().unwrap();
    let unsynced: Vec<Position> = (0..5u8).map(|i| wal.append(&[i; 50]).unwrap()).collect();
    drop(wal); // no sync: the five records are in the file, above the watermark
    flip_byte(&dir.join("000000001.wal"), unsynced[2].offset + 8);
    let output = walfs(&["verify"], &dir);
    let out = stdout(&output);
    assert_eq!(code(&output), 1, "{out}");
    assert!(
        out.contains(&format!(
            "12 records, then a torn tail at offset {}",
            unsynced[2].offset
        )),
        "{out}"
    );
    assert!(out.contains("2 valid-looking records after it"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// dump

/// Checks `dump`'s jsonl lines against the manifest's records, byte for byte.
fn check_jsonl_against_manifest(case: &str, out: &str, first: usize) {
    let manifest = manifest(case);
    let records = manifest["written"]["records"].as_array().unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty());
    for (line, record) in lines.iter().zip(&records[first..]) {
        let value: Value = serde_json::from_str(line).unwrap();
        let data = value["data"].as_str().unwrap();
        let log_index = match record["log_index"].as_u64().unwrap() {
            0 => "null".to_owned(),
            index => index.to_string(),
        };
        let expected = format!(
            "{{\"segment\":{},\"offset\":{},\"length\":{},\"log_index\":{log_index},\"data\":\"{data}\"}}",
            record["seg"], record["off"], record["len"]
        );
        assert_eq!(*line, expected, "{case} record {}", record["i"]);
        assert_eq!(
            sha256_hex(&hex_decode(data)),
            record["sha256"].as_str().unwrap(),
            "{case} record {}",
            record["i"]
        );
        assert!(
            !data.bytes().any(|b| b.is_ascii_uppercase()),
            "lowercase hex"
        );
    }
}

#[test]
fn dump_prints_the_manifest_records_as_jsonl() {
    for case in ["01-single-active", "03-batch-logindex", "02-rotated-mixed"] {
        let (_temp, dir) = copy_case(case);
        let output = walfs(&["dump"], &dir);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        let out = stdout(&output);
        let count = manifest(case)["written"]["records"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(out.lines().count(), count, "{case}");
        check_jsonl_against_manifest(case, &out, 0);
    }
    // The README's worked example: record 0 of case 01 starts eb 7f 2b 3a 2d 2a 19 85.
    let (_temp, dir) = copy_case("01-single-active");
    let out = stdout(&walfs(&["dump", "--limit", "1"], &dir));
    assert!(
        out.starts_with(
            "{\"segment\":1,\"offset\":64,\"length\":48,\"log_index\":null,\"data\":\"eb7f2b3a2d2a1985"
        ),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn dump_from_a_position_keeps_log_indexes() {
    let case = "03-batch-logindex";
    let (_temp, dir) = copy_case(case);
    let records = manifest(case)["written"]["records"]
        .as_array()
        .unwrap()
        .clone();
    // Segment 2 starts with log index 222 (record 221).
    let out = stdout(&walfs(&["dump", "--from", "2:64", "--limit", "2"], &dir));
    assert_eq!(out.lines().count(), 2);
    assert!(out.starts_with("{\"segment\":2,\"offset\":64,"), "{out}");
    assert!(out.contains("\"log_index\":222,"), "{out}");
    check_jsonl_against_manifest(case, &out, 221);
    // From the middle of segment 1: record 100 carries log index 101.
    let from = format!("1:{}", records[100]["off"]);
    let out = stdout(&walfs(&["dump", "--from", &from, "--limit", "3"], &dir));
    check_jsonl_against_manifest(case, &out, 100);
    assert!(out.lines().next().unwrap().contains("\"log_index\":101,"));
    // A segment alone means its first record; the dump follows into later segments.
    let out = stdout(&walfs(&["dump", "--from", "2"], &dir));
    assert_eq!(out.lines().count(), 500 - 221);
    check_jsonl_against_manifest(case, &out, 221);
    // The end of the data prints nothing.
    let out = stdout(&walfs(&["dump", "--from", "3:20344"], &dir));
    assert_eq!(out, "");
    // Not a record start, or no such segment: one line naming the file.
    let output = walfs(&["dump", "--from", "1:72"], &dir);
    assert_eq!(code(&output), 3);
    assert_one_line_error(&output, "000000001.wal");
    assert!(
        stderr(&output).contains("no record starts at offset 72 (records start at 64 and 344)"),
        "{}",
        stderr(&output)
    );
    let output = walfs(&["dump", "--from", "9:64"], &dir);
    assert_eq!(code(&output), 3);
    assert_one_line_error(&output, "000000009.wal");
}

#[test]
fn dump_hex_and_raw_formats() {
    let case = "01-single-active";
    let (_temp, dir) = copy_case(case);
    let record = manifest(case)["written"]["records"][1].clone();
    let hex = stdout(&walfs(
        &["dump", "--from", "1:128", "--limit", "1", "--format", "hex"],
        &dir,
    ));
    let (head, data) = hex.trim_end().rsplit_once(' ').unwrap();
    assert_eq!(head, "1:128 length=62 log_index=-");
    assert_eq!(
        sha256_hex(&hex_decode(data)),
        record["sha256"].as_str().unwrap()
    );
    let raw = walfs(&["dump", "--limit", "2", "--format", "raw"], &dir).stdout;
    let records = manifest(case)["written"]["records"]
        .as_array()
        .unwrap()
        .clone();
    let len0 = usize::try_from(records[0]["len"].as_u64().unwrap()).unwrap();
    let len1 = usize::try_from(records[1]["len"].as_u64().unwrap()).unwrap();
    assert_eq!(raw.len(), len0 + 1 + len1 + 1);
    assert_eq!(
        sha256_hex(&raw[..len0]),
        records[0]["sha256"].as_str().unwrap()
    );
    assert_eq!(raw[len0], b'\n');
    assert_eq!(
        sha256_hex(&raw[len0 + 1..len0 + 1 + len1]),
        records[1]["sha256"].as_str().unwrap()
    );
}

#[test]
fn dump_stops_at_damage_with_status_2() {
    // Case 09: the reader cannot get past record 20 of the sealed segment 1.
    let (_temp, dir) = copy_case("09-bad-crc-sealed");
    let output = walfs(&["dump"], &dir);
    assert_eq!(code(&output), 2);
    assert_eq!(stdout(&output).lines().count(), 20);
    assert_one_line_error(&output, "000000001.wal");
    assert!(stderr(&output).contains("offset 6560"));
    // --limit that stops before the damage succeeds, and so does a dump from past it.
    assert_eq!(code(&walfs(&["dump", "--limit", "20"], &dir)), 0);
    let output = walfs(&["dump", "--from", "1:6864", "--limit", "2"], &dir);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    check_jsonl_against_manifest("09-bad-crc-sealed", &stdout(&output), 21);

    // A damaged synced walfs WAL: the records before the damage, then status 2.
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("wal");
    let positions = write_synced_wal(&dir);
    flip_byte(&dir.join("000000001.wal"), positions[10].offset + 8);
    let output = walfs(&["dump"], &dir);
    assert_eq!(code(&output), 2);
    assert_eq!(stdout(&output).lines().count(), 10);
    assert_one_line_error(&output, "000000001.wal");
    assert!(
        stderr(&output).contains("29 records after it"),
        "{}",
        stderr(&output)
    );
}

// ---------------------------------------------------------------------------------------------
// inspect

#[test]
fn inspect_totals() {
    let (_temp, dir) = copy_case("02-rotated-mixed");
    let output = walfs(&["inspect"], &dir);
    assert_eq!(code(&output), 0);
    let out = stdout(&output);
    assert_eq!(out.lines().count(), 1 + 7 + 1, "{out}");
    assert!(
        out.contains("total: 7 segments, 44 records, 385312 / 458752 bytes used, log index -"),
        "{out}"
    );

    let case = "03-batch-logindex";
    let (_temp, dir) = copy_case(case);
    let output = walfs(&["inspect", "--json"], &dir);
    assert_eq!(code(&output), 0);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let totals = &json["totals"];
    assert_eq!(totals["segments"], 3);
    assert_eq!(totals["records"], 500);
    assert_eq!(totals["first_log_index"], 1);
    assert_eq!(totals["last_log_index"], 500);
    assert_eq!(totals["capacity"], 3 * 65536);
    let segments = json["segments"].as_array().unwrap();
    let firsts: Vec<u64> = segments
        .iter()
        .map(|s| s["first_log_index"].as_u64().unwrap())
        .collect();
    assert_eq!(firsts, [1, 222, 436]);
    let states: Vec<&str> = segments
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sealed", "sealed", "active"]);
    // The active segment ends where the Go original's next write would go.
    assert_eq!(segments[2]["bytes_used"], 20344);

    // A torn tail is noted; the counts stop before it.
    let (_temp, dir) = copy_case("05-torn-tail");
    let out = stdout(&walfs(&["inspect"], &dir));
    assert!(out.contains("total: 1 segment, 99 records"), "{out}");
    assert!(
        out.contains("note: ") && out.contains("torn tail at offset 7168"),
        "{out}"
    );

    // A bad header cannot be inspected: one line, status 3.
    let (_temp, dir) = copy_case("10-bad-header-crc");
    let output = walfs(&["inspect"], &dir);
    assert_eq!(code(&output), 3);
    assert_one_line_error(&output, "000000002.wal");
}

// ---------------------------------------------------------------------------------------------
// read-only

/// Runs every read-only command on `dir`; returns their exit codes.
fn run_read_only_commands(dir: &Path) -> Vec<i32> {
    let commands: [&[&str]; 7] = [
        &["inspect"],
        &["inspect", "--json"],
        &["verify"],
        &["dump"],
        &["dump", "--format", "hex", "--from", "1"],
        &["dump", "--format", "raw"],
        &["tail", "-n", "5"],
    ];
    commands
        .iter()
        .map(|args| code(&walfs(args, dir)))
        .collect()
}

#[test]
fn read_only_commands_change_no_byte() {
    // Including the cases where the Go original's open writes (08, 13) and where walfs' writable
    // open would cut, erase or rewrite (05, 06, 07, 09, 12).
    for case in [
        "01-single-active",
        "02-rotated-mixed",
        "05-torn-tail",
        "06-bad-crc-active",
        "07-garbage-tail",
        "08-sealed-missing-index",
        "09-bad-crc-sealed",
        "10-bad-header-crc",
        "12-stale-active-header",
        "13-unsealed-earlier-segment",
    ] {
        let (_temp, dir) = copy_case(case);
        let before = snapshot(&dir);
        run_read_only_commands(&dir);
        assert_eq!(snapshot(&dir), before, "{case}");
    }
}

#[test]
fn read_only_commands_work_while_a_writer_holds_the_wal() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("wal");
    // Without the writer's background preparation: its spare segment file would appear (and be
    // zeroed) whenever the preparer gets to it, between the two snapshots or not.
    let options = Options::new().segment_size(4096).prepare_segments(false);
    let wal = Wal::open(&dir, options).unwrap();
    let payloads: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_le_bytes().repeat(20)).collect();
    wal.append_batch_indexed(&payloads, 1).unwrap();
    wal.sync().unwrap();
    assert!(wal.segments().len() > 3, "the log rotated");
    // The writer holds the directory lock: a second writer is refused, readers are not.
    assert!(matches!(
        Wal::open(&dir, Options::new()),
        Err(walfs::Error::Locked { .. })
    ));
    let before = snapshot(&dir);
    assert_eq!(run_read_only_commands(&dir), [0; 7]);
    assert_eq!(snapshot(&dir), before);
    let out = stdout(&walfs(&["dump"], &dir));
    assert_eq!(out.lines().count(), 300);
    assert!(out.lines().last().unwrap().contains("\"log_index\":300,"));
    // Appended but not synced: visible to a new read-only open too.
    wal.append_indexed(b"late", 301).unwrap();
    let out = stdout(&walfs(&["tail", "-n", "1"], &dir));
    assert!(
        out.contains("\"log_index\":301,\"data\":\"6c617465\""),
        "{out}"
    );
    drop(wal);
}

// ---------------------------------------------------------------------------------------------
// tail

#[test]
fn tail_prints_the_last_records_and_follows_rotation() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("wal");
    let wal = Wal::open(&dir, Options::new().segment_size(4096)).unwrap();
    for i in 1..=20u64 {
        wal.append_indexed(&i.to_le_bytes().repeat(12), i).unwrap();
    }
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_walfs"))
            .args(["tail", "-n", "3", "--follow", "--interval-ms", "20"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (send, lines) = mpsc::channel();
    let child_stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(child_stdout).lines() {
            if send.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next_line = || {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from tail");
        serde_json::from_str::<Value>(&line).unwrap()
    };
    for i in 18..=20u64 {
        let record = next_line();
        assert_eq!(record["log_index"], i);
        assert_eq!(record["length"], 96);
    }
    // 100 more records rotate through several 4 KiB segments.
    let first_segment = wal.active_segment();
    for i in 21..=120u64 {
        wal.append_indexed(&i.to_le_bytes().repeat(12), i).unwrap();
    }
    assert!(
        wal.active_segment().0 >= first_segment.0 + 2,
        "rotated twice"
    );
    let mut last_segment = 0;
    for i in 21..=120u64 {
        let record = next_line();
        assert_eq!(record["log_index"], i);
        let data = hex_decode(record["data"].as_str().unwrap());
        assert_eq!(data, i.to_le_bytes().repeat(12));
        last_segment = record["segment"].as_u64().unwrap();
    }
    assert_eq!(last_segment, u64::from(wal.active_segment().0));
    // The follower runs until it is stopped; it never printed an error.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let mut errors = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    assert_eq!(errors, "");
    drop(wal);
}

/// A child process killed when the test ends, even by a failed assertion.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// bench, usage, errors

#[test]
fn bench_writes_reads_back_and_reports() {
    let output = Command::new(env!("CARGO_BIN_EXE_walfs"))
        .args([
            "bench",
            "--count",
            "3000",
            "--size",
            "64",
            "--threads",
            "2",
            "--sync",
            "16k",
            "--segment-size",
            "64k",
        ])
        .output()
        .unwrap();
    let out = stdout(&output);
    assert_eq!(code(&output), 0, "{out}{}", stderr(&output));
    for word in ["records/s", "MB/s", "p50", "p99", "p999", "read:"] {
        assert!(out.contains(word), "{word} in {out}");
    }
    // An explicit directory is kept; one that is not empty is refused.
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("bench");
    let run = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_walfs"))
            .args(["bench", "--count", "100", "--sync", "every", "--dir"])
            .arg(dir)
            .output()
            .unwrap()
    };
    assert_eq!(code(&run(&dir)), 0);
    assert!(dir.join("000000001.wal").exists());
    assert_eq!(code(&walfs(&["verify"], &dir)), 0);
    let output = run(&dir);
    assert_eq!(code(&output), 64);
    assert_one_line_error(&output, "bench");
}

#[test]
fn usage_errors_exit_64_and_help_succeeds() {
    let output = Command::new(env!("CARGO_BIN_EXE_walfs"))
        .arg("dump")
        .output()
        .unwrap();
    assert_eq!(code(&output), 64);
    let output = Command::new(env!("CARGO_BIN_EXE_walfs"))
        .args(["dump", "x", "--format", "xml"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 64);
    let output = Command::new(env!("CARGO_BIN_EXE_walfs"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).contains("verify"));
}
