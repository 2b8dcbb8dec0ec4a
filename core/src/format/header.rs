//! The 64-byte segment header (SPEC §1.3).
//!
//! ```text
//!  0       4       8               16              24              32
//!  +-------+-------+---------------+---------------+---------------+
//!  | magic |version|  created_at   |last_modified_at| write_offset |
//!  +-------+-------+---------------+---------------+---------------+
//! 32              40      44              52      56      60      64
//!  +---------------+-------+---------------+-------+-------+-------+
//!  |  entry_count  | flags |first_log_index|marker |  crc  |  pad  |
//!  +---------------+-------+---------------+-------+-------+-------+
//! ```
//!
//! All fields little-endian; `crc` is CRC-32C of bytes 0..56; the padding is zero.
//!
//! walfs gives `write_offset` a stricter meaning than the Go original when the
//! [`SegmentFlags::WATERMARK`] bit is set: it is then the *durable watermark*, an offset below
//! which every byte was acknowledged by a successful sync (DESIGN §3), and `entry_count` counts the
//! records below it. The Go original ignores that bit (it only tests SEALED and keeps other bits),
//! and scans unsealed segments without reading `write_offset`, so it reads our files unchanged.

use super::{FRAME_ALIGN, SEGMENT_SIZE_MAX};
use crate::crc::crc32c;
use crate::error::CorruptionReason;

/// Size of the header in bytes; the first record starts here.
pub const HEADER_LEN: usize = 64;
/// `0x5557414C`, stored little-endian, so the file starts with the bytes `LAWU`.
pub const MAGIC: u32 = 0x5557_414C;
/// The only format version.
pub const VERSION: u32 = 1;
/// Bytes covered by the header CRC.
const CRC_COVERED_LEN: usize = 56;

/// The flags word of a segment header (bytes 40..44).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SegmentFlags(pub u32);

impl SegmentFlags {
    /// The segment accepts appends (the Go original's value, 0x08).
    pub const ACTIVE: u32 = 0x08;
    /// The segment is sealed: its end is final and stored in `write_offset` (0x02).
    pub const SEALED: u32 = 0x02;
    /// walfs only: `write_offset` is a durable watermark, not merely the last known end (0x10).
    pub const WATERMARK: u32 = 0x10;

    /// Whether the SEALED bit is set.
    #[inline]
    pub const fn is_sealed(self) -> bool {
        self.0 & Self::SEALED != 0
    }

    /// Whether the ACTIVE bit is set.
    #[inline]
    pub const fn is_active(self) -> bool {
        self.0 & Self::ACTIVE != 0
    }

    /// Whether `write_offset` is a durable watermark (segments written by walfs on a medium that
    /// can rewrite the header).
    #[inline]
    pub const fn has_watermark(self) -> bool {
        self.0 & Self::WATERMARK != 0
    }

    /// These flags with ACTIVE cleared and SEALED set, other bits kept (as sealing does).
    #[inline]
    #[must_use]
    pub const fn sealed(self) -> Self {
        SegmentFlags((self.0 & !Self::ACTIVE) | Self::SEALED)
    }

    /// These flags with SEALED cleared and ACTIVE set, other bits kept (as truncation does).
    #[inline]
    #[must_use]
    pub const fn unsealed(self) -> Self {
        SegmentFlags((self.0 & !Self::SEALED) | Self::ACTIVE)
    }
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentHeader {
    /// Always [`MAGIC`] in a valid header.
    pub magic: u32,
    /// Always [`VERSION`] in a valid header.
    pub version: u32,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_at: i64,
    /// Time of the last header update, nanoseconds since the Unix epoch.
    pub last_modified_at: i64,
    /// The end of the data as last recorded (a durable watermark with [`SegmentFlags::WATERMARK`];
    /// the final end when sealed).
    pub write_offset: u64,
    /// Number of records below `write_offset`.
    pub entry_count: u64,
    /// State bits.
    pub flags: SegmentFlags,
    /// Log index of the segment's first record; 0 = the segment's records have no log index.
    pub first_log_index: u64,
    /// Application-defined marker (0 = none).
    pub marker: u32,
}

impl SegmentHeader {
    /// The header of a new, empty, active segment.
    pub const fn new(created_at: i64, marker: u32) -> Self {
        SegmentHeader {
            magic: MAGIC,
            version: VERSION,
            created_at,
            last_modified_at: created_at,
            write_offset: HEADER_LEN as u64,
            entry_count: 0,
            flags: SegmentFlags(SegmentFlags::ACTIVE),
            first_log_index: 0,
            marker,
        }
    }

    /// The 64 bytes of this header, with its CRC.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.magic.to_le_bytes());
        out[4..8].copy_from_slice(&self.version.to_le_bytes());
        out[8..16].copy_from_slice(&self.created_at.to_le_bytes());
        out[16..24].copy_from_slice(&self.last_modified_at.to_le_bytes());
        out[24..32].copy_from_slice(&self.write_offset.to_le_bytes());
        out[32..40].copy_from_slice(&self.entry_count.to_le_bytes());
        out[40..44].copy_from_slice(&self.flags.0.to_le_bytes());
        out[44..52].copy_from_slice(&self.first_log_index.to_le_bytes());
        out[52..56].copy_from_slice(&self.marker.to_le_bytes());
        let crc = crc32c(&out[..CRC_COVERED_LEN]);
        out[56..60].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes the fields without any check (for diagnosis of a damaged header).
    pub fn decode_unchecked(bytes: &[u8; HEADER_LEN]) -> Self {
        SegmentHeader {
            magic: le_u32(bytes, 0),
            version: le_u32(bytes, 4),
            created_at: le_i64(bytes, 8),
            last_modified_at: le_i64(bytes, 16),
            write_offset: le_u64(bytes, 24),
            entry_count: le_u64(bytes, 32),
            flags: SegmentFlags(le_u32(bytes, 40)),
            first_log_index: le_u64(bytes, 44),
            marker: le_u32(bytes, 52),
        }
    }

    /// The CRC stored in bytes 56..60.
    pub fn stored_crc(bytes: &[u8; HEADER_LEN]) -> u32 {
        le_u32(bytes, 56)
    }

    /// Decodes and validates a header.
    ///
    /// Checks, in order: a header whose 64 bytes are all `0x00` or all `0xFF` was never written
    /// ([`CorruptionReason::ErasedHeader`]); the CRC ([`CorruptionReason::BadHeaderCrc`]); then the
    /// magic and version the Go original never checks ([`CorruptionReason::BadMagic`],
    /// [`CorruptionReason::UnsupportedVersion`]).
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, CorruptionReason> {
        if bytes.iter().all(|&b| b == 0) || bytes.iter().all(|&b| b == 0xFF) {
            return Err(CorruptionReason::ErasedHeader);
        }
        let stored = Self::stored_crc(bytes);
        let computed = crc32c(&bytes[..CRC_COVERED_LEN]);
        if stored != computed {
            return Err(CorruptionReason::BadHeaderCrc { stored, computed });
        }
        let header = Self::decode_unchecked(bytes);
        if header.magic != MAGIC {
            return Err(CorruptionReason::BadMagic {
                found: header.magic,
            });
        }
        if header.version != VERSION {
            return Err(CorruptionReason::UnsupportedVersion {
                found: header.version,
            });
        }
        Ok(header)
    }

    /// Checks `write_offset` against a segment of `capacity` bytes: at least 64, at most the
    /// capacity, a multiple of 8.
    pub fn check_write_offset(&self, capacity: u64) -> Result<(), CorruptionReason> {
        let offset = self.write_offset;
        if offset < HEADER_LEN as u64
            || offset > capacity.min(SEGMENT_SIZE_MAX)
            || !offset.is_multiple_of(FRAME_ALIGN as u64)
        {
            return Err(CorruptionReason::BadWriteOffset {
                write_offset: offset,
            });
        }
        Ok(())
    }
}

fn le_u32(bytes: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn le_u64(bytes: &[u8; HEADER_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn le_i64(bytes: &[u8; HEADER_LEN], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    i64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §1.8: T = 1,700,000,000,000,000,000 ns.
    const T: i64 = 1_700_000_000_000_000_000;

    #[rustfmt::skip]
    const FRESH: [u8; 64] = [
        0x4c, 0x41, 0x57, 0x55, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17,
        0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xee, 0x70, 0x17, 0xa3, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn fresh_header_matches_spec_bytes() {
        let header = SegmentHeader::new(T, 0);
        assert_eq!(header.encode(), FRESH);
        assert_eq!(SegmentHeader::decode(&FRESH), Ok(header));
    }

    #[test]
    fn header_crc_variants_match_spec_table() {
        let after_write = |first_log_index| SegmentHeader {
            write_offset: 88,
            entry_count: 1,
            first_log_index,
            ..SegmentHeader::new(T, 0)
        };
        let crc_bytes = |h: SegmentHeader| {
            let bytes = h.encode();
            [bytes[56], bytes[57], bytes[58], bytes[59]]
        };
        assert_eq!(
            crc_bytes(SegmentHeader::new(T, 0)),
            [0xee, 0x70, 0x17, 0xa3]
        );
        assert_eq!(crc_bytes(after_write(0)), [0x6a, 0xd5, 0xdb, 0x25]);
        assert_eq!(crc_bytes(after_write(1)), [0x5a, 0x01, 0xaa, 0x14]);
        let seal = |mut h: SegmentHeader| {
            h.flags = h.flags.sealed();
            h
        };
        assert_eq!(crc_bytes(seal(after_write(0))), [0x40, 0x97, 0xca, 0x4d]);
        assert_eq!(crc_bytes(seal(after_write(1))), [0x70, 0x43, 0xbb, 0x7c]);
    }

    #[test]
    fn header_after_hello_write_matches_spec_bytes() {
        let header = SegmentHeader {
            write_offset: 88,
            entry_count: 1,
            first_log_index: 1,
            ..SegmentHeader::new(T, 0)
        };
        let bytes = header.encode();
        assert_eq!(&bytes[0..4], b"LAWU");
        assert_eq!(&bytes[24..32], &[0x58, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[32..40], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[40..52], &[8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[56..64], &[0x5a, 0x01, 0xaa, 0x14, 0, 0, 0, 0]);
    }

    #[test]
    fn flipped_bit_fails_the_header_crc() {
        for byte in 0..56 {
            let mut bytes = FRESH;
            bytes[byte] ^= 1;
            assert!(
                matches!(
                    SegmentHeader::decode(&bytes),
                    Err(CorruptionReason::BadHeaderCrc { .. })
                ),
                "byte {byte}"
            );
        }
    }

    #[test]
    fn erased_header_is_reported_as_never_written() {
        assert_eq!(
            SegmentHeader::decode(&[0; 64]),
            Err(CorruptionReason::ErasedHeader)
        );
        assert_eq!(
            SegmentHeader::decode(&[0xFF; 64]),
            Err(CorruptionReason::ErasedHeader)
        );
    }

    #[test]
    fn wrong_magic_or_version_with_valid_crc_is_refused() {
        let mut header = SegmentHeader::new(T, 0);
        header.magic = 0x1234_5678;
        assert_eq!(
            SegmentHeader::decode(&header.encode()),
            Err(CorruptionReason::BadMagic { found: 0x1234_5678 })
        );
        let mut header = SegmentHeader::new(T, 0);
        header.version = 2;
        assert_eq!(
            SegmentHeader::decode(&header.encode()),
            Err(CorruptionReason::UnsupportedVersion { found: 2 })
        );
    }

    #[test]
    fn sealing_keeps_other_flag_bits() {
        let flags = SegmentFlags(SegmentFlags::ACTIVE | SegmentFlags::WATERMARK | 0x100);
        let sealed = flags.sealed();
        assert!(sealed.is_sealed() && !sealed.is_active() && sealed.has_watermark());
        assert_eq!(sealed.0 & 0x100, 0x100);
        let unsealed = sealed.unsealed();
        assert!(!unsealed.is_sealed() && unsealed.is_active());
    }

    #[test]
    fn write_offset_bounds_are_checked() {
        let mut header = SegmentHeader::new(T, 0);
        assert!(header.check_write_offset(1024).is_ok());
        for bad in [0, 63, 65, 1032] {
            header.write_offset = bad;
            assert!(header.check_write_offset(1024).is_err(), "{bad}");
        }
        header.write_offset = 1024;
        assert!(header.check_write_offset(1024).is_ok());
    }
}
