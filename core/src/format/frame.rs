//! The record frame (SPEC §1.5): `crc | length | payload | trailer | padding`, 8-byte aligned.

use crate::crc::Crc32c;

/// Frames start at multiples of this, and their lengths are multiples of it.
pub const FRAME_ALIGN: usize = 8;
/// Bytes before the payload: crc (u32) and length (u32).
pub const FRAME_HEADER_LEN: usize = 8;
/// Bytes of the trailer that follows the payload.
pub const TRAILER_LEN: usize = 8;
/// Fixed bytes of every frame besides the payload and padding.
pub const FRAME_OVERHEAD_LEN: usize = FRAME_HEADER_LEN + TRAILER_LEN;
/// The trailer, in file order (`0xCEFA_EDFE_EFBE_ADDE` as a little-endian u64).
pub const TRAILER: [u8; TRAILER_LEN] = [0xDE, 0xAD, 0xBE, 0xEF, 0xFE, 0xED, 0xFA, 0xCE];

/// `n` rounded up to a multiple of 8.
#[inline]
pub const fn align8(n: u64) -> u64 {
    (n + (FRAME_ALIGN as u64 - 1)) & !(FRAME_ALIGN as u64 - 1)
}

/// The on-disk size of a record with a `payload_len`-byte payload: `align8(16 + payload_len)`.
#[inline]
pub const fn frame_len(payload_len: u64) -> u64 {
    align8(payload_len + FRAME_OVERHEAD_LEN as u64)
}

/// CRC-32C of a frame: over the 4 length bytes, then the payload.
#[inline]
pub fn record_crc(payload: &[u8]) -> u32 {
    let mut crc = Crc32c::new();
    crc.update(&length_bytes(payload));
    crc.update(payload);
    crc.finish()
}

#[inline]
fn length_bytes(payload: &[u8]) -> [u8; 4] {
    // Callers check that the payload fits a segment, which bounds it far below u32::MAX.
    u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes()
}

/// A validated frame found in a segment: where it is and how long its payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordFrame {
    /// Offset of the frame (its crc field) in the segment.
    pub offset: u64,
    /// Length of the payload in bytes.
    pub payload_len: u32,
}

impl RecordFrame {
    /// Offset of the first payload byte.
    #[inline]
    pub const fn payload_offset(&self) -> u64 {
        self.offset + FRAME_HEADER_LEN as u64
    }

    /// Size of the whole frame on disk, padding included.
    #[inline]
    pub const fn frame_len(&self) -> u64 {
        frame_len(self.payload_len as u64)
    }

    /// Offset of the next frame.
    #[inline]
    pub const fn next_offset(&self) -> u64 {
        self.offset + self.frame_len()
    }

    /// The byte range of the payload in the segment.
    #[inline]
    pub const fn payload_range(&self) -> core::ops::Range<u64> {
        self.payload_offset()..self.payload_offset() + self.payload_len as u64
    }
}

/// The bytes that precede a payload in its frame: crc and length.
#[inline]
pub fn encode_frame_header(payload: &[u8]) -> [u8; FRAME_HEADER_LEN] {
    let mut out = [0u8; FRAME_HEADER_LEN];
    out[..4].copy_from_slice(&record_crc(payload).to_le_bytes());
    out[4..].copy_from_slice(&length_bytes(payload));
    out
}

/// The bytes that follow a payload in its frame: the trailer and the zero padding.
///
/// Returns the buffer and how many of its bytes to write (8 to 15).
#[inline]
pub fn encode_frame_suffix(payload_len: u64) -> ([u8; TRAILER_LEN + FRAME_ALIGN - 1], usize) {
    let mut out = [0u8; TRAILER_LEN + FRAME_ALIGN - 1];
    out[..TRAILER_LEN].copy_from_slice(&TRAILER);
    let len = frame_len(payload_len) - FRAME_HEADER_LEN as u64 - payload_len;
    // len is 8..=15 by construction of frame_len.
    (out, usize::try_from(len).unwrap_or(TRAILER_LEN))
}

/// Writes the whole frame of `payload` into `out`, which must be exactly `frame_len` bytes.
///
/// The payload and the suffix are stored first and the head (crc and length) last, the order
/// [`crate::region::Region::write_frame_parts`] keeps: a frame cut short in memory that lends
/// itself to a writer ([`crate::region::Region::write_frame_in_place`]) has no header over it.
/// The payload is checksummed as it is copied ([`Crc32c::update_copying`]).
///
/// Returns `None` if `out` has the wrong length.
#[inline]
pub fn encode_frame(payload: &[u8], out: &mut [u8]) -> Option<()> {
    let payload_len = payload.len() as u64;
    if out.len() as u64 != frame_len(payload_len) {
        return None;
    }
    let (head, rest) = out.split_at_mut(FRAME_HEADER_LEN);
    let (body, tail) = rest.split_at_mut(payload.len());
    let length = length_bytes(payload);
    let mut crc = Crc32c::new();
    crc.update(&length);
    crc.update_copying(payload, body);
    // `tail` is the `frame_len - 8 - payload_len` bytes the suffix says it writes.
    let (suffix, len) = encode_frame_suffix(payload_len);
    tail.copy_from_slice(&suffix[..len]);
    head[..4].copy_from_slice(&crc.finish().to_le_bytes());
    head[4..].copy_from_slice(&length);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_frame_matches_spec_bytes() {
        // SPEC §1.8: the record "hello" at offset 64.
        let mut frame = [0u8; 24];
        encode_frame(b"hello", &mut frame).unwrap();
        assert_eq!(
            frame,
            [
                0xa1, 0xb1, 0x17, 0x4e, 0x05, 0x00, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xde,
                0xad, 0xbe, 0xef, 0xfe, 0xed, 0xfa, 0xce, 0x00, 0x00, 0x00
            ]
        );
        assert_eq!(record_crc(b"hello"), 0x4E17_B1A1);
    }

    #[test]
    fn frame_len_matches_spec_table() {
        for (n, frame, padding) in [
            (0, 16, 0),
            (1, 24, 7),
            (8, 24, 0),
            (11, 32, 5),
            (1024, 1040, 0),
        ] {
            assert_eq!(frame_len(n), frame);
            assert_eq!(frame_len(n) - 16 - n, padding);
        }
        assert_eq!(align8(8), 8);
        assert_eq!(align8(9), 16);
    }

    #[test]
    fn trailer_reads_as_the_spec_u64() {
        assert_eq!(u64::from_le_bytes(TRAILER), 0xCEFA_EDFE_EFBE_ADDE);
    }

    #[test]
    fn encode_frame_rejects_wrong_buffer_length() {
        let mut short = [0u8; 23];
        assert!(encode_frame(b"hello", &mut short).is_none());
    }

    #[test]
    fn padding_is_zero_and_trailer_follows_payload() {
        for n in 0..40usize {
            let payload = [0x5Au8; 40];
            let mut buf = [0xFFu8; 64];
            let len = usize::try_from(frame_len(n as u64)).unwrap();
            encode_frame(&payload[..n], &mut buf[..len]).unwrap();
            assert_eq!(&buf[8 + n..16 + n], &TRAILER);
            assert!(buf[16 + n..len].iter().all(|&b| b == 0));
        }
    }
}
