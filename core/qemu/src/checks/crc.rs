//! CRC-32C on the portable path (the only one on a Cortex-M4), against the standard check value
//! and a bit-by-bit reference written here.

use walfs_core::crc::{Crc32c, CrcPath, crc32c};

use crate::Outcome;

/// CRC-32C computed one bit at a time from the polynomial (reflected 0x82F63B78).
pub(crate) fn reference(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The standard check value, on the path the target uses.
pub fn check_value_portable() -> Outcome {
    ensure!(
        CrcPath::best() == CrcPath::Portable,
        "a Cortex-M4 has no CRC-32C instruction"
    );
    ensure!(!CrcPath::Hardware.is_available(), "no hardware path");
    let mut crc = ok!(
        Crc32c::with_path(CrcPath::Portable).ok_or(()),
        "portable path"
    );
    crc.update(b"123456789");
    ensure!(crc.finish() == 0xE306_9283, "check value 0xE3069283");
    ensure!(crc32c(b"123456789") == 0xE306_9283, "one-shot check value");
    ensure!(crc32c(b"") == 0, "empty input");
    ensure!(
        reference(b"123456789") == 0xE306_9283,
        "the reference itself"
    );
    Ok(())
}

/// Every length up to 300 and every split point of a shorter input agree with the reference.
pub fn agrees_with_reference() -> Outcome {
    let data: [u8; 300] = core::array::from_fn(|i| {
        // i < 300: the truncation is the intended pattern.
        #[allow(clippy::cast_possible_truncation)]
        let i = i as u8;
        i.wrapping_mul(151).wrapping_add(7)
    });
    for len in 0..=data.len() {
        ensure!(
            crc32c(&data[..len]) == reference(&data[..len]),
            "one-shot vs reference"
        );
    }
    for len in [0usize, 1, 15, 16, 17, 63, 64, 65] {
        let expected = reference(&data[..len]);
        for split in 0..=len {
            let mut crc = Crc32c::new();
            crc.update(&data[..split]);
            crc.update(&data[split..len]);
            ensure!(crc.finish() == expected, "streaming vs reference");
        }
    }
    Ok(())
}
