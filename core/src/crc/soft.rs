//! The portable CRC-32C path: the `crc` crate's table-driven implementation (slice-by-16).

use crc::{CRC_32_ISCSI, Crc, Table};

/// The table-driven CRC-32C engine, built at compile time (16 × 256 × 4 = 16 KiB of tables).
static CASTAGNOLI: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// A streaming portable computation.
#[derive(Clone)]
pub(super) struct Digest(crc::Digest<'static, u32, Table<16>>);

impl Digest {
    pub(super) fn new() -> Self {
        Digest(CASTAGNOLI.digest())
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(super) fn finish(self) -> u32 {
        self.0.finalize()
    }
}
