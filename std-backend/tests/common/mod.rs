//! What several of walfs' integration tests share.

use walfs::{Position, Wal};

/// Every record a fresh reader returns, with its position, in order.
pub fn read_all(wal: &Wal) -> Vec<(Position, Vec<u8>)> {
    let mut reader = wal.reader();
    let mut out = Vec::new();
    while let Some(record) = reader.next().unwrap() {
        out.push((record.position(), record.payload().to_vec()));
    }
    out
}
