//! Tailing from a checkpoint: a consumer saves the position of the last record it processed,
//! stops, and later resumes right after it with `reader_after`, while a writer keeps appending.
//! No record is lost and none is processed twice.
//!
//! The Rust counterpart of the Go doc page's "Tailing from a Specific Position"
//! (`NewReaderAfter`, `EncodeRecordPositionTo` / `DecodeRecordPosition`).
//!
//! Run: `cargo run --release -p walfs --example tailing_checkpoint`

use std::path::Path;
use std::time::Duration;

use walfs::{Options, Position, Wal};

/// Records written in all.
const TOTAL: usize = 20;
/// Records written before the consumer's first run.
const FIRST_RUN_WRITTEN: usize = 12;
/// Records the consumer processes before it stops.
const FIRST_RUN_PROCESSED: usize = 7;

/// Saves the checkpoint (the 12-byte encoding of a position) atomically: write a temporary
/// file, fsync it, rename it over the old one. A crash leaves the old or the new checkpoint.
fn save_checkpoint(path: &Path, position: Position) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut &file, &position.encode())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
    // A real consumer would also fsync the directory to make the rename durable.
}

fn load_checkpoint(path: &Path) -> Result<Option<Position>, Box<dyn std::error::Error>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(Position::decode(&bytes)?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn entry(i: usize) -> String {
    format!("Entry {i}")
}

/// "Processes" a record: checks it is the next one expected and notes it.
fn process(payload: &[u8], processed: &mut Vec<String>) {
    let text = String::from_utf8_lossy(payload).into_owned();
    assert_eq!(text, entry(processed.len()), "no record lost or duplicated");
    processed.push(text);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::Builder::new()
        .prefix("walfs-tailing-checkpoint-")
        .tempdir()?;
    let wal_dir = root.path().join("wal");
    let checkpoint = root.path().join("consumer.checkpoint");
    println!("WAL directory: {}", wal_dir.display());
    let options = Options::new().segment_size(256); // small segments: the log rotates
    let mut processed = Vec::new();

    // First run: some records exist; the consumer processes a few and stops.
    {
        let wal = Wal::open(&wal_dir, options.clone())?;
        for i in 0..FIRST_RUN_WRITTEN {
            wal.append(entry(i).as_bytes())?;
        }
        wal.sync()?;
        let mut reader = match load_checkpoint(&checkpoint)? {
            Some(position) => wal.reader_after(position)?,
            None => wal.reader(),
        };
        while processed.len() < FIRST_RUN_PROCESSED {
            let record = reader.next()?.ok_or("the first records are there")?;
            process(record.payload(), &mut processed);
            // Checkpoint after processing: a crash in between would process it once more.
            save_checkpoint(&checkpoint, record.position())?;
            println!(
                "Processed {:<9} at {}",
                processed[processed.len() - 1],
                record.position()
            );
        }
        println!("Consumer stops; checkpoint saved; the WAL is closed (dropped)\n");
    }

    // Second run: reopen the WAL, load the checkpoint, and tail from the record after it
    // while a writer appends the rest.
    let wal = Wal::open(&wal_dir, options)?;
    let position = load_checkpoint(&checkpoint)?.ok_or("the first run saved a checkpoint")?;
    println!("Checkpoint loaded: {position}; resuming after it");
    std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error>> {
        let writer = scope.spawn(|| -> Result<(), walfs::Error> {
            for i in FIRST_RUN_WRITTEN..TOTAL {
                std::thread::sleep(Duration::from_millis(20));
                wal.append(entry(i).as_bytes())?;
            }
            wal.sync()
        });
        // `NewReaderAfter(checkpoint)`: skips the checkpointed record itself.
        let mut reader = wal.reader_after(position)?;
        while processed.len() < TOTAL {
            let Some(record) = reader.next_timeout(Duration::from_secs(2))? else {
                return Err("no record for 2 s".into());
            };
            process(record.payload(), &mut processed);
            save_checkpoint(&checkpoint, record.position())?;
            println!(
                "Processed {:<9} at {}",
                processed[processed.len() - 1],
                record.position()
            );
        }
        writer.join().expect("the writer thread panicked")?;
        Ok(())
    })?;

    let expected: Vec<String> = (0..TOTAL).map(entry).collect();
    assert_eq!(processed, expected);
    println!(
        "\nAll {TOTAL} records processed exactly once, in order, across a restart ({} segments)",
        wal.segments().len()
    );
    Ok(())
}
