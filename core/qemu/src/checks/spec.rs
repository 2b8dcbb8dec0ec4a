//! The worked example of SPEC §1.8: a fresh segment and the record "hello", byte for byte as the
//! Go original writes them.

use walfs_core::format::{HEADER_LEN, SegmentFlags, SegmentHeader, encode_frame, record_crc};
use walfs_core::{OpenOptions, RamRegion, Segment, SegmentId, SegmentInit};

use crate::Outcome;

/// Both timestamps of the example: 1,700,000,000,000,000,000 ns.
const T: i64 = 1_700_000_000_000_000_000;

/// A fresh segment's header (marker 0).
const FRESH: [u8; HEADER_LEN] = [
    0x4c, 0x41, 0x57, 0x55, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17,
    0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xee, 0x70, 0x17, 0xa3, 0x00, 0x00, 0x00, 0x00,
];

/// Bytes 0..96 after `Write("hello", 1)`: header, then the 24-byte frame at offset 64.
const AFTER_HELLO: [u8; 96] = [
    0x4c, 0x41, 0x57, 0x55, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17,
    0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, 0x58, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5a, 0x01, 0xaa, 0x14, 0x00, 0x00, 0x00, 0x00,
    0xa1, 0xb1, 0x17, 0x4e, 0x05, 0x00, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xde, 0xad, 0xbe,
    0xef, 0xfe, 0xed, 0xfa, 0xce, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// The header bytes: fresh, and the header CRC of each variant in the SPEC's table.
pub fn header_bytes() -> Outcome {
    let fresh = SegmentHeader::new(T, 0);
    ensure!(
        fresh.encode() == FRESH,
        "fresh header bytes differ from SPEC 1.8"
    );
    ensure!(
        SegmentHeader::decode(&FRESH) == Ok(fresh),
        "fresh header decodes"
    );
    let after = <&[u8; HEADER_LEN]>::try_from(&AFTER_HELLO[..HEADER_LEN]).map_err(|_| "len")?;
    ensure!(
        SegmentHeader::decode(after).is_ok_and(|h| h.write_offset == 88
            && h.entry_count == 1
            && h.first_log_index == 1
            && h.flags == SegmentFlags(SegmentFlags::ACTIVE)),
        "the header after Write(hello, 1) decodes to its fields"
    );
    // (first_log_index, flags, header CRC bytes) after one record.
    let variants: [(u64, u32, [u8; 4]); 4] = [
        (0, SegmentFlags::ACTIVE, [0x6a, 0xd5, 0xdb, 0x25]),
        (1, SegmentFlags::ACTIVE, [0x5a, 0x01, 0xaa, 0x14]),
        (0, SegmentFlags::SEALED, [0x40, 0x97, 0xca, 0x4d]),
        (1, SegmentFlags::SEALED, [0x70, 0x43, 0xbb, 0x7c]),
    ];
    for (first_log_index, flags, crc) in variants {
        let mut header = fresh;
        header.write_offset = 88;
        header.entry_count = 1;
        header.first_log_index = first_log_index;
        header.flags = SegmentFlags(flags);
        ensure!(
            header.encode()[56..60] == crc,
            "header CRC variant differs from SPEC 1.8"
        );
    }
    Ok(())
}

/// The frame of "hello", alone and as `Segment` writes it, and a segment holding the SPEC's
/// bytes opened and read back.
pub fn hello_frame() -> Outcome {
    let mut frame = [0xFFu8; 24];
    ensure!(encode_frame(b"hello", &mut frame).is_some(), "encode_frame");
    ensure!(
        frame == AFTER_HELLO[64..88],
        "hello frame bytes differ from SPEC 1.8"
    );
    ensure!(record_crc(b"hello") == 0x4E17_B1A1, "record CRC of hello");

    let mut bytes = [0u8; 256];
    let init = SegmentInit {
        created_at: T,
        marker: 0,
        first_log_index: 0,
    };
    let mut segment = ok!(
        Segment::create(RamRegion::new(&mut bytes), SegmentId(1), init),
        "create"
    );
    ensure!(
        ok!(segment.append(b"hello", 1), "append") == 64,
        "first record at 64"
    );
    ok!(segment.sync(T), "sync");
    ensure!(
        bytes[64..96] == AFTER_HELLO[64..96],
        "segment bytes after the record"
    );
    // walfs adds the watermark flag (0x10) to the Go original's header; the rest is the same.
    ensure!(bytes[..40] == AFTER_HELLO[..40], "header bytes 0..40");
    ensure!(bytes[44..56] == AFTER_HELLO[44..56], "header bytes 44..56");
    ensure!(bytes[40] == 0x18, "flags ACTIVE | WATERMARK");

    let mut bytes = [0u8; 256];
    bytes[..96].copy_from_slice(&AFTER_HELLO);
    let (mut segment, report) = ok!(
        Segment::open(
            RamRegion::new(&mut bytes),
            SegmentId(1),
            OpenOptions::default()
        ),
        "open the SPEC's bytes"
    );
    ensure!(
        report
            .scan
            .is_some_and(|scan| scan.end == 88 && scan.record_count == 1),
        "recovery finds the record"
    );
    let frame = ok!(segment.read(64), "read at 64");
    ensure!(segment.payload(&frame) == Some(&b"hello"[..]), "payload");
    Ok(())
}
