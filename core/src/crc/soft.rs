//! The portable CRC-32C path: the `crc` crate's implementation, with the table size chosen by
//! target and features (flash against speed):
//!
//! | choice | implementation | table in flash |
//! | --- | --- | --- |
//! | default on `x86_64` and `aarch64` | slice-by-16 | 16 × 256 × 4 = 16 KiB |
//! | default elsewhere (microcontrollers, 32-bit targets) | one table, a byte at a time | 256 × 4 = 1 KiB |
//! | feature `crc-table-16` | slice-by-16 on every target | 16 KiB |
//! | feature `crc-table-1` | the 1 KiB table on every target | 1 KiB |
//! | feature `crc-no-table` (wins over the others) | bit by bit | none |
//!
//! Why the default differs by target: on `x86_64` and `aarch64` the portable path is only the
//! fallback behind the CPU's CRC instruction and memory is plentiful, so it gets the fastest
//! table; on a microcontroller the 16 KiB table would be two thirds of walfs-core's flash
//! (measured: 24.9 KiB against 9.4 KiB for the whole footprint firmware, README "Embedded").

#[cfg(feature = "crc-no-table")]
type Lanes = crc::NoTable;
#[cfg(all(feature = "crc-table-1", not(feature = "crc-no-table")))]
type Lanes = crc::Table<1>;
#[cfg(all(
    not(any(feature = "crc-table-1", feature = "crc-no-table")),
    any(
        feature = "crc-table-16",
        target_arch = "x86_64",
        target_arch = "aarch64"
    )
))]
type Lanes = crc::Table<16>;
#[cfg(all(
    not(any(
        feature = "crc-table-1",
        feature = "crc-no-table",
        feature = "crc-table-16"
    )),
    not(any(target_arch = "x86_64", target_arch = "aarch64"))
))]
type Lanes = crc::Table<1>;

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
