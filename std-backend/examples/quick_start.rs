//! Quick start: open a WAL, append a record, make it durable, read it back, reopen.
//!
//! The Rust counterpart of the Go doc page's "Quick Start" (`NewWALog`, `Write`, `Read`).
//!
//! Run: `cargo run --release -p walfs --example quick_start`

use walfs::{Options, Wal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A fresh directory under the system's temp dir, removed when `dir` is dropped.
    let dir = tempfile::Builder::new()
        .prefix("walfs-quick-start-")
        .tempdir()?;
    println!("WAL directory: {}", dir.path().display());

    // `NewWALog(dir, ".wal")`: the defaults are the Go original's (16 MiB segments, ".wal").
    let wal = Wal::open(dir.path(), Options::new())?;

    // `Write(data)`: returns where the record lives.
    let position = wal.append(b"Hello, WAL!")?;
    println!("Written at: {position}");

    // An append is visible to readers at once, but durable only after a sync.
    wal.sync()?;
    println!("Synced: the record survives a crash from here on");

    // `Read(pos)`: a zero-copy view of the payload, CRC checked.
    let view = wal.read(position)?;
    println!("Read: {}", String::from_utf8_lossy(&view));
    drop(view);

    // No `Close`: dropping the handle releases the directory lock. Reopening recovers the log.
    drop(wal);
    let wal = Wal::open(dir.path(), Options::new())?;
    let view = wal.read(position)?;
    assert_eq!(&*view, b"Hello, WAL!");
    println!(
        "Reopened: {} segment(s), the record is still at {position}",
        wal.segments().len()
    );
    Ok(())
}
