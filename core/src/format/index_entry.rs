//! Entries of the index file `<segment>.idx` (SPEC §1.6): 16 bytes per record, no header.
//!
//! ```text
//! 0                 8            12           16
//! +-----------------+------------+------------+
//! | offset (u64)    | length u32 | zero (u32) |
//! +-----------------+------------+------------+
//! ```

use crate::format::{HEADER_LEN, RecordFrame};

/// Size of one entry in bytes.
pub const INDEX_ENTRY_LEN: usize = 16;

/// One record of a sealed segment, as its index file lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// Offset of the record's frame in the segment.
    pub offset: u64,
    /// Payload length.
    pub payload_len: u32,
}

impl IndexEntry {
    /// The 16 bytes of this entry.
    pub fn encode(&self) -> [u8; INDEX_ENTRY_LEN] {
        let mut out = [0u8; INDEX_ENTRY_LEN];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        out
    }

    /// Decodes an entry. The 4 reserved bytes are not checked (the Go original ignores them).
    pub fn decode(bytes: &[u8; INDEX_ENTRY_LEN]) -> Self {
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&bytes[..8]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&bytes[8..12]);
        IndexEntry {
            offset: u64::from_le_bytes(offset),
            payload_len: u32::from_le_bytes(len),
        }
    }

    /// The frame this entry claims; the claim is not verified against the segment.
    pub const fn frame(&self) -> RecordFrame {
        RecordFrame {
            offset: self.offset,
            payload_len: self.payload_len,
        }
    }

    /// Whether the entry can describe a frame of a segment whose data ends at `end`: it starts
    /// at or after the header, on an 8-byte boundary, and its frame ends at or before `end`.
    pub fn is_plausible(&self, end: u64) -> bool {
        self.offset >= HEADER_LEN as u64
            && self.offset.is_multiple_of(8)
            && self
                .offset
                .checked_add(self.frame().frame_len())
                .is_some_and(|frame_end| frame_end <= end)
    }
}

impl From<RecordFrame> for IndexEntry {
    fn from(frame: RecordFrame) -> Self {
        IndexEntry {
            offset: frame.offset,
            payload_len: frame.payload_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_index_entry_matches_spec_bytes() {
        let entry = IndexEntry {
            offset: 64,
            payload_len: 5,
        };
        assert_eq!(
            entry.encode(),
            [0x40, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(IndexEntry::decode(&entry.encode()), entry);
    }

    #[test]
    fn plausibility_checks_alignment_and_end() {
        let entry = |offset, payload_len| IndexEntry {
            offset,
            payload_len,
        };
        assert!(entry(64, 5).is_plausible(88));
        assert!(!entry(64, 5).is_plausible(87));
        assert!(!entry(60, 0).is_plausible(1000));
        assert!(!entry(68, 0).is_plausible(1000));
        assert!(!entry(u64::MAX - 7, 0).is_plausible(u64::MAX));
    }
}
