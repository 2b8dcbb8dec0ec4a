//! Log tailing, like `tail -f`: a writer thread appends a record every 50 ms while a reader
//! follows the log, waiting for new records with a timeout and following rotation on its own.
//!
//! The Rust counterpart of the Go doc page's "Log Tailing". The Go loop has to sleep on
//! `ErrNoNewData` and recreate its reader on `io.EOF` to see new segments; a walfs [`Reader`]
//! follows rotation itself, and `next_timeout` sleeps until an append wakes it up.
//!
//! Run: `cargo run --release -p walfs --example tailing`

use std::time::{Duration, Instant};

use walfs::{Options, Wal};

const RECORDS: usize = 12;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::Builder::new()
        .prefix("walfs-tailing-")
        .tempdir()?;
    println!("WAL directory: {}", dir.path().display());
    // Tiny (256-byte) segments hold 4 of these records: the log rotates while the reader follows.
    let wal = Wal::open(dir.path(), Options::new().segment_size(256))?;
    let started = Instant::now();

    // `Wal` is `Send + Sync`: scoped threads can share a plain reference (use `Arc` otherwise).
    std::thread::scope(|scope| -> Result<(), walfs::Error> {
        let writer = scope.spawn(|| -> Result<(), walfs::Error> {
            for i in 0..RECORDS {
                std::thread::sleep(Duration::from_millis(50));
                let data = format!("Log entry {i} at {:>4} ms", started.elapsed().as_millis());
                let position = wal.append(data.as_bytes())?;
                println!("Written: {data} (at {position})");
            }
            wal.sync()
        });

        let mut reader = wal.reader();
        println!("Starting log tail...");
        let mut read = 0;
        while read < RECORDS {
            // `None` after the timeout: nothing was appended in the meantime.
            match reader.next_timeout(Duration::from_millis(500))? {
                Some(record) => {
                    let expected = format!("Log entry {read} at");
                    assert!(
                        record.payload().starts_with(expected.as_bytes()),
                        "in order"
                    );
                    println!(
                        "Read:    {} (from {})",
                        String::from_utf8_lossy(record.payload()),
                        record.position()
                    );
                    read += 1;
                }
                None => println!("(no new record for 500 ms)"),
            }
        }
        writer.join().expect("the writer thread panicked")?;
        // Everything was read: the next call waits out its timeout and finds nothing.
        assert!(reader.next_timeout(Duration::from_millis(20))?.is_none());
        Ok(())
    })?;

    let segments = wal.segments().len();
    assert!(segments > 1, "the log rotated while being tailed");
    println!("Tailed {RECORDS} records across {segments} segments, in order, none twice");
    Ok(())
}
