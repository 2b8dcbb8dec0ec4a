//! Batch writing: append several records in one call, read them back, and watch a batch that
//! does not fit in the active segment continue in the next one.
//!
//! The Rust counterpart of the Go doc page's "Batch Writing" (`WriteBatch`).
//!
//! Run: `cargo run --release -p walfs --example batch`

use walfs::{Options, Wal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::Builder::new().prefix("walfs-batch-").tempdir()?;
    println!("WAL directory: {}", dir.path().display());
    let wal = Wal::open(dir.path(), Options::new())?;

    let records = [
        "Transaction 1: User login",
        "Transaction 2: Update profile",
        "Transaction 3: Add to cart",
        "Transaction 4: Process payment",
        "Transaction 5: Send confirmation",
    ];

    // `WriteBatch(records)`: the writer lock is taken once; one position per record.
    let positions = wal.append_batch(&records)?;
    wal.sync()?; // one sync makes the whole batch durable
    println!("Successfully wrote {} records", positions.len());
    for (i, position) in positions.iter().enumerate() {
        println!("Record {} written at: {position}", i + 1);
    }
    for (i, position) in positions.iter().enumerate() {
        let data = wal.read(*position)?;
        println!("Read record {}: {}", i + 1, String::from_utf8_lossy(&data));
        assert_eq!(&*data, records[i].as_bytes());
    }
    drop(wal);

    // Automatic rotation: with 4 KiB segments, a batch of 40 records of 200 bytes (216 bytes
    // on disk each) cannot fit in one segment, so it seals the segment and goes on in the next.
    // Log indexes (here 1, 2, 3, ...) must be contiguous; `position_for_index` finds them.
    let dir = tempfile::Builder::new()
        .prefix("walfs-batch-rotation-")
        .tempdir()?;
    let wal = Wal::open(dir.path(), Options::new().segment_size(4096))?;
    let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 200]).collect();
    let positions = wal.append_batch_indexed(&payloads, 1)?;
    wal.sync()?;
    let segments = wal.segments();
    println!(
        "\nA batch of {} records across 4 KiB segments: first at {}, last at {}",
        positions.len(),
        positions[0],
        positions[positions.len() - 1]
    );
    for info in &segments {
        println!(
            "  segment {}: {:>2} records, log indexes {}..={}, {}",
            info.id,
            info.record_count,
            info.first_log_index.unwrap_or(0),
            info.last_log_index.unwrap_or(0),
            if info.sealed { "sealed" } else { "active" }
        );
    }
    assert!(segments.len() > 1, "the batch rotated");
    let last = wal.position_for_index(40)?;
    assert_eq!(last, positions[39]);
    println!("position_for_index(40) = {last}");
    Ok(())
}
