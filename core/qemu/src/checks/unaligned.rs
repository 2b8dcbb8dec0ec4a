//! No access in walfs-core may assume alignment: segments whose bytes start at every address
//! mod 8 (odd ones included), payloads and buffers at odd addresses. On a Cortex-M4 an unaligned
//! 8-byte or multi-word access (LDRD, STRD, LDM, STM, VLDR, VSTR) faults, and QEMU models that
//! fault, so code that assumed alignment cannot pass these checks.

use walfs_core::format::{HEADER_LEN, SegmentHeader, encode_frame, frame_len};
use walfs_core::position::POSITION_LEN;
use walfs_core::{
    CursorStep, OpenOptions, Position, RamRegion, ScanStop, Segment, SegmentCursor, SegmentId,
    SegmentInit, crc::crc32c,
};

use super::crc::reference;
use crate::Outcome;

/// Bytes that start at an address that is a multiple of 8.
#[repr(C, align(8))]
struct Aligned<const N: usize>([u8; N]);

const ID: SegmentId = SegmentId(77);
const SEGMENT_LEN: usize = 1024;

/// For each start address mod 8: a segment over those bytes, records of 0..=17 bytes (copied
/// from a payload buffer at an odd address) so trailers and padding end at every offset mod 8;
/// sync, reopen, scan, cursor, zero-copy and copying reads into an odd-address buffer.
pub fn regions_and_buffers() -> Outcome {
    let mut memory = Aligned([0u8; SEGMENT_LEN + 16]);
    let mut source = Aligned([0u8; 64]);
    for (i, byte) in source.0.iter_mut().enumerate() {
        // i < 64: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let i = i as u8;
        *byte = i ^ 0x5A;
    }
    let odd_source = &source.0[1..];
    for shift in 1..=8usize {
        let bytes = &mut memory.0[shift..shift + SEGMENT_LEN];
        bytes.fill(0);
        let init = SegmentInit {
            created_at: 3,
            marker: 0,
            first_log_index: 1,
        };
        let mut segment = ok!(Segment::create(RamRegion::new(bytes), ID, init), "create");
        let mut offsets = [0u64; 18];
        for (len, offset) in offsets.iter_mut().enumerate() {
            *offset = ok!(segment.append(&odd_source[..len], 1 + len as u64), "append");
        }
        ok!(segment.sync(4), "sync");

        let bytes = &mut memory.0[shift..shift + SEGMENT_LEN];
        let (mut segment, report) = ok!(
            Segment::open(RamRegion::new(bytes), ID, OpenOptions::default()),
            "reopen"
        );
        ensure!(
            report
                .scan
                .is_some_and(|s| s.stop == ScanStop::CleanEnd && s.record_count == 18),
            "clean end after 18 records"
        );
        let mut cursor = SegmentCursor::new(ID);
        let mut out = Aligned([0u8; 32]);
        for (len, &offset) in offsets.iter().enumerate() {
            let step = ok!(cursor.next_in(&mut segment), "cursor");
            ensure!(
                matches!(step, CursorStep::Record(frame) if frame.offset == offset),
                "cursor position"
            );
            let frame = ok!(segment.read(offset), "read");
            ensure!(
                segment.payload(&frame) == Some(&odd_source[..len]),
                "zero-copy payload"
            );
            let read = ok!(
                segment.read_payload(&frame, &mut out.0[1..]),
                "read_payload"
            );
            ensure!(
                read == &odd_source[..len],
                "payload copied to an odd address"
            );
        }
    }
    Ok(())
}

/// CRC-32C, header and position decoding and frame encoding on buffers at every address mod 8.
pub fn crc_header_position() -> Outcome {
    let mut buf = Aligned([0u8; 160]);
    for (i, byte) in buf.0.iter_mut().enumerate() {
        #[allow(clippy::cast_possible_truncation)]
        let i = i as u8;
        *byte = i.wrapping_mul(197).wrapping_add(3);
    }
    for start in 0..8 {
        for len in 0..=(buf.0.len() - 8) {
            let bytes = &buf.0[start..start + len];
            ensure!(
                crc32c(bytes) == reference(bytes),
                "CRC at an unaligned start"
            );
        }
    }

    let header = SegmentHeader {
        write_offset: 4096,
        entry_count: 7,
        first_log_index: 99,
        ..SegmentHeader::new(-5, 0xABCD)
    };
    let encoded = header.encode();
    let position = Position::new(SegmentId(0x0102_0304), 0x1122_3344_5566_7788);
    let mut frame_out = Aligned([0u8; 48]);
    for start in 0..8 {
        let mut copy = Aligned([0u8; HEADER_LEN + 8]);
        copy.0[start..start + HEADER_LEN].copy_from_slice(&encoded);
        let at =
            <&[u8; HEADER_LEN]>::try_from(&copy.0[start..start + HEADER_LEN]).map_err(|_| "len")?;
        ensure!(
            SegmentHeader::decode(at) == Ok(header),
            "header decode at an odd address"
        );

        let mut pos = Aligned([0u8; POSITION_LEN + 8]);
        pos.0[start..start + POSITION_LEN].copy_from_slice(&position.encode());
        ensure!(
            Position::decode(&pos.0[start..]) == Ok(position),
            "position decode at an odd address"
        );

        for len in 0..16usize {
            let frame = usize::try_from(frame_len(len as u64)).map_err(|_| "len")?;
            let out = &mut frame_out.0[start..start + frame];
            ensure!(
                encode_frame(&buf.0[start + 1..start + 1 + len], out).is_some(),
                "encode"
            );
            let crc = u32::from_le_bytes([out[0], out[1], out[2], out[3]]);
            let mut covered = [0u8; 20];
            // len < 16: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            covered[..4].copy_from_slice(&(len as u32).to_le_bytes());
            covered[4..4 + len].copy_from_slice(&buf.0[start + 1..start + 1 + len]);
            ensure!(
                crc == reference(&covered[..4 + len]),
                "frame CRC at an odd address"
            );
        }
    }
    Ok(())
}
