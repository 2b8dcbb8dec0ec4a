//! The portable CRC-32C path: the `crc` crate's implementation, with the table size chosen by
//! features (flash against speed):
//!
//! | features | implementation | table in flash |
//! | --- | --- | --- |
//! | none (default) | slice-by-16 | 16 × 256 × 4 = 16 KiB |
//! | `crc-table-1` | one table, a byte at a time | 256 × 4 = 1 KiB |
//! | `crc-no-table` (wins over `crc-table-1`) | bit by bit | none |

#[cfg(feature = "crc-no-table")]
type Lanes = crc::NoTable;
#[cfg(all(feature = "crc-table-1", not(feature = "crc-no-table")))]
type Lanes = crc::Table<1>;
#[cfg(not(any(feature = "crc-table-1", feature = "crc-no-table")))]
type Lanes = crc::Table<16>;

use crc::{CRC_32_ISCSI, Crc};

/// The CRC-32C engine, its table (if any) built at compile time.
static CASTAGNOLI: Crc<u32, Lanes> = Crc::<u32, Lanes>::new(&CRC_32_ISCSI);

/// A streaming portable computation.
#[derive(Clone)]
pub(super) struct Digest(crc::Digest<'static, u32, Lanes>);

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
