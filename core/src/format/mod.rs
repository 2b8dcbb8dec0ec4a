//! The on-disk format: constants and the relations between them, checked at compile time.
//!
//! Vocabulary used everywhere in walfs:
//! - `offset`: bytes from the start of a segment;
//! - `*_len`: a size in bytes; `*_count`: a number of items; `*_index`: a 0-based ordinal, except
//!   a *log index*, the caller's own number for a record (1-based, 0 = none);
//! - integers on disk are fixed width and little-endian; `usize` never reaches the disk.
//!
//! ```text
//! segment (capacity S bytes, every segment file is exactly S bytes)
//! +----------------+---------+---------+-----+---------+----------------------------+
//! | header (64 B)  | frame 0 | frame 1 | ... | frame n | erased (zero) up to S      |
//! +----------------+---------+---------+-----+---------+----------------------------+
//! 0                64        every frame starts at a multiple of 8
//!
//! frame of an n-byte payload: align8(16 + n) bytes
//! +-----------+-------------+-----------+-------------------------+-----------------+
//! | crc (u32) | length (u32)| payload   | trailer DE AD BE EF     | zero padding    |
//! |           |   = n       | n bytes   |         FE ED FA CE     | 0..7 bytes      |
//! +-----------+-------------+-----------+-------------------------+-----------------+
//! crc = CRC-32C(length bytes ++ payload)
//! ```

pub mod frame;
pub mod header;
pub mod index_entry;

pub use frame::{
    FRAME_ALIGN, FRAME_HEADER_LEN, FRAME_OVERHEAD_LEN, RecordFrame, TRAILER, TRAILER_LEN, align8,
    encode_frame, encode_frame_header, encode_frame_suffix, frame_len, record_crc,
};
pub use header::{HEADER_LEN, MAGIC, SegmentFlags, SegmentHeader, VERSION};
pub use index_entry::{INDEX_ENTRY_LEN, IndexEntry};

/// The default segment size of the Go original: 16 MiB.
pub const SEGMENT_SIZE_DEFAULT: u64 = 16 * 1024 * 1024;

/// The largest segment size the format allows: 4 GiB, inclusive (SPEC §1.7).
pub const SEGMENT_SIZE_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// The smallest segment size that can hold one record (a header and a zero-length frame).
pub const SEGMENT_SIZE_MIN: u64 = HEADER_LEN as u64 + FRAME_OVERHEAD_LEN as u64;

/// The largest payload a segment of `capacity` bytes can hold: `frame_len(n) <= capacity - 64`.
///
/// Returns `None` when the capacity cannot hold even a zero-length record.
pub const fn max_payload_len(capacity: u64) -> Option<u64> {
    if capacity < SEGMENT_SIZE_MIN {
        return None;
    }
    // frame_len(n) = align8(n + 16) <= capacity - 64  <=>  n <= align_down8(capacity - 64) - 16
    let room = (capacity - HEADER_LEN as u64) & !(FRAME_ALIGN as u64 - 1);
    let max = room - FRAME_OVERHEAD_LEN as u64;
    // The length field is a u32.
    if max > u32::MAX as u64 {
        Some(u32::MAX as u64 - (FRAME_ALIGN as u64 - 1))
    } else {
        Some(max)
    }
}

const _: () = {
    assert!(
        HEADER_LEN.is_multiple_of(FRAME_ALIGN),
        "records start aligned after the header"
    );
    assert!(FRAME_OVERHEAD_LEN == FRAME_HEADER_LEN + TRAILER_LEN);
    assert!(FRAME_OVERHEAD_LEN.is_multiple_of(FRAME_ALIGN));
    assert!(TRAILER_LEN == 8);
    assert!(INDEX_ENTRY_LEN == 16);
    assert!(SEGMENT_SIZE_DEFAULT <= SEGMENT_SIZE_MAX);
    assert!(frame_len(0) == 16 && frame_len(1) == 24 && frame_len(8) == 24);
    assert!(frame_len(11) == 32 && frame_len(1024) == 1040);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_payload_len_is_the_largest_fitting_payload() {
        // SPEC §1.7: 16 MiB segments take n <= 16,777,136.
        assert_eq!(max_payload_len(SEGMENT_SIZE_DEFAULT), Some(16_777_136));
        assert_eq!(max_payload_len(SEGMENT_SIZE_MIN), Some(0));
        assert_eq!(max_payload_len(SEGMENT_SIZE_MIN - 1), None);
        assert_eq!(max_payload_len(1000), Some(920));
        for capacity in SEGMENT_SIZE_MIN..600 {
            let max = max_payload_len(capacity).unwrap();
            assert!(HEADER_LEN as u64 + frame_len(max) <= capacity);
            assert!(HEADER_LEN as u64 + frame_len(max + 1) > capacity);
        }
        let max = max_payload_len(SEGMENT_SIZE_MAX).unwrap();
        assert!(u32::try_from(max).is_ok());
    }
}
