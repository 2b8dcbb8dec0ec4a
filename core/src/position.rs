//! Segment ids and record positions, with the 12-byte encoding of the Go original (SPEC §10).

use core::fmt;

/// The id of a segment: the number in its file name (`000000001.wal` is segment 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SegmentId(pub u32);

impl SegmentId {
    /// The id after this one, or `None` at `u32::MAX`.
    pub const fn next(self) -> Option<SegmentId> {
        match self.0.checked_add(1) {
            Some(id) => Some(SegmentId(id)),
            None => None,
        }
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Where a record lives: its segment and the offset of its frame in that segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The segment holding the record.
    pub segment: SegmentId,
    /// Offset of the record's frame from the start of the segment.
    pub offset: u64,
}

/// Length of an encoded [`Position`].
pub const POSITION_LEN: usize = 12;

/// Decoding a position from fewer than [`POSITION_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionTooShort {
    /// How many bytes were given.
    pub len: usize,
}

impl fmt::Display for PositionTooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a record position needs {POSITION_LEN} bytes, got {}",
            self.len
        )
    }
}

impl core::error::Error for PositionTooShort {}

impl Position {
    /// The nil position (0, 0): names no record (segment ids start at 1).
    pub const NIL: Position = Position {
        segment: SegmentId(0),
        offset: 0,
    };

    /// A position.
    pub const fn new(segment: SegmentId, offset: u64) -> Self {
        Position { segment, offset }
    }

    /// Whether this is the nil position.
    pub const fn is_nil(&self) -> bool {
        self.segment.0 == 0 && self.offset == 0
    }

    /// The 12-byte encoding: segment id as u32 LE, then offset as u64 LE.
    ///
    /// ```
    /// use walfs_core::{Position, SegmentId};
    /// let bytes = Position::new(SegmentId(3), 88).encode();
    /// assert_eq!(bytes, [3, 0, 0, 0, 88, 0, 0, 0, 0, 0, 0, 0]);
    /// ```
    pub fn encode(&self) -> [u8; POSITION_LEN] {
        let mut out = [0u8; POSITION_LEN];
        out[..4].copy_from_slice(&self.segment.0.to_le_bytes());
        out[4..].copy_from_slice(&self.offset.to_le_bytes());
        out
    }

    /// Decodes the first 12 bytes of `bytes`; later bytes are ignored.
    pub fn decode(bytes: &[u8]) -> Result<Self, PositionTooShort> {
        let Some(bytes) = bytes.first_chunk::<POSITION_LEN>() else {
            return Err(PositionTooShort { len: bytes.len() });
        };
        let mut id = [0u8; 4];
        id.copy_from_slice(&bytes[..4]);
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&bytes[4..]);
        Ok(Position {
            segment: SegmentId(u32::from_le_bytes(id)),
            offset: u64::from_le_bytes(offset),
        })
    }
}

impl fmt::Display for Position {
    /// `SegmentID=<id>, Offset=<offset>`, as the Go original prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentID={}, Offset={}", self.segment.0, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_encoding() {
        // SPEC §14 TestChunkPositionEncodeDecode; the Go offset −1 is u64::MAX here.
        for (id, offset) in [(1, 0), (42, 1024), (9999, 1u64 << 32), (0, u64::MAX)] {
            let pos = Position::new(SegmentId(id), offset);
            assert_eq!(Position::decode(&pos.encode()), Ok(pos));
        }
    }

    #[test]
    fn encoding_matches_spec_example_and_ignores_extra_bytes() {
        let bytes = Position::new(SegmentId(3), 88).encode();
        assert_eq!(bytes, [3, 0, 0, 0, 0x58, 0, 0, 0, 0, 0, 0, 0]);
        let mut longer = [0xAAu8; 20];
        longer[..12].copy_from_slice(&bytes);
        assert_eq!(
            Position::decode(&longer),
            Ok(Position::new(SegmentId(3), 88))
        );
    }

    #[test]
    fn decoding_five_bytes_fails() {
        assert_eq!(Position::decode(&[0; 5]), Err(PositionTooShort { len: 5 }));
    }

    #[test]
    fn nil_position_is_zero_zero() {
        assert!(Position::NIL.is_nil());
        assert!(!Position::new(SegmentId(0), 1).is_nil());
    }

    #[test]
    fn display_matches_the_go_text_form() {
        struct Buf([u8; 64], usize);
        impl fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.1 + s.len();
                self.0[self.1..end].copy_from_slice(s.as_bytes());
                self.1 = end;
                Ok(())
            }
        }
        let mut buf = Buf([0; 64], 0);
        fmt::Write::write_fmt(
            &mut buf,
            format_args!("{}", Position::new(SegmentId(123), 456)),
        )
        .unwrap();
        assert_eq!(&buf.0[..buf.1], b"SegmentID=123, Offset=456");
    }
}
