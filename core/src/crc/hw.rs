//! The hardware CRC-32C path.
//!
//! # Safety
//!
//! This is one of the two modules of walfs that hold `unsafe` (the other is the mmap region of
//! the std backend). The only unsafe operation is calling a function compiled with
//! `#[target_feature(enable = ...)]` from code that was not: that is sound exactly when the
//! running CPU has the feature, which [`available`] establishes (statically through
//! `cfg(target_feature)`, or at run time through `std`'s CPU detection). The intrinsics themselves
//! are safe to call inside such a function.
#![allow(unsafe_code)]

/// Whether the running CPU has a CRC-32C instruction this module can use.
#[inline]
pub(super) fn available() -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.2"))]
    {
        true
    }
    #[cfg(all(
        target_arch = "x86_64",
        not(target_feature = "sse4.2"),
        feature = "std"
    ))]
    {
        std_detect_x86()
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "crc"))]
    {
        true
    }
    #[cfg(all(target_arch = "aarch64", not(target_feature = "crc"), feature = "std"))]
    {
        std_detect_aarch64()
    }
    #[cfg(not(any(
        all(
            target_arch = "x86_64",
            any(target_feature = "sse4.2", feature = "std")
        ),
        all(target_arch = "aarch64", any(target_feature = "crc", feature = "std")),
    )))]
    {
        false
    }
}

#[cfg(all(
    target_arch = "x86_64",
    not(target_feature = "sse4.2"),
    feature = "std"
))]
fn std_detect_x86() -> bool {
    extern crate std;
    std::is_x86_feature_detected!("sse4.2")
}

#[cfg(all(target_arch = "aarch64", not(target_feature = "crc"), feature = "std"))]
fn std_detect_aarch64() -> bool {
    extern crate std;
    std::arch::is_aarch64_feature_detected!("crc")
}

/// Advances the raw (non-inverted) CRC-32C register over `bytes`.
///
/// Only called when [`available`] returned true.
#[inline]
pub(super) fn update(register: u32, bytes: &[u8]) -> u32 {
    debug_assert!(available());
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `update` is only reached through `Crc32c` values whose state was chosen
        // `Hardware` after `available()` returned true, i.e. the CPU has SSE4.2.
        unsafe { update_sse42(register, bytes) }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above: `available()` returned true, so the CPU has the CRC extension.
        unsafe { update_armv8(register, bytes) }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = bytes;
        register
    }
}

/// [`update`], also returning the OR of the differences of `side`'s words from `pattern`,
/// computed in the same loop (see `Crc32c::update_and_compare`).
///
/// Only called when [`available`] returned true.
#[inline]
pub(super) fn update_and_compare(
    register: u32,
    bytes: &[u8],
    side: &[[u8; 8]],
    pattern: u64,
) -> (u32, u64) {
    debug_assert!(available());
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: as in `update`: only reached after `available()` returned true, so the CPU
        // has SSE4.2.
        unsafe { update_and_compare_sse42(register, bytes, side, pattern) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (update(register, bytes), super::difference(side, pattern))
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn update_and_compare_sse42(
    register: u32,
    bytes: &[u8],
    side: &[[u8; 8]],
    pattern: u64,
) -> (u32, u64) {
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};
    let (words, rest) = bytes.as_chunks::<8>();
    let paired = words.len().min(side.len());
    let (words, words_after) = words.split_at(paired);
    let (side, side_after) = side.split_at(paired);
    let mut wide = u64::from(register);
    let mut any = 0u64;
    // One CRC step and one comparison per iteration: the CRC's dependency chain sets the pace,
    // the comparison fills idle execution slots.
    for (word, other) in words.iter().zip(side) {
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(*word));
        any |= u64::from_le_bytes(*other) ^ pattern;
    }
    for word in words_after {
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(*word));
    }
    any |= super::difference(side_after, pattern);
    // The instruction leaves the 32-bit register zero-extended in the 64-bit value.
    #[allow(clippy::cast_possible_truncation)]
    let mut register = wide as u32;
    for &byte in rest {
        register = _mm_crc32_u8(register, byte);
    }
    (register, any)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn update_sse42(register: u32, bytes: &[u8]) -> u32 {
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};
    let (words, rest) = bytes.as_chunks::<8>();
    let mut wide = u64::from(register);
    for word in words {
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(*word));
    }
    // The instruction leaves the 32-bit register zero-extended in the 64-bit value.
    #[allow(clippy::cast_possible_truncation)]
    let mut register = wide as u32;
    for &byte in rest {
        register = _mm_crc32_u8(register, byte);
    }
    register
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "crc")]
fn update_armv8(register: u32, bytes: &[u8]) -> u32 {
    use core::arch::aarch64::{__crc32cb, __crc32cd};
    let (words, rest) = bytes.as_chunks::<8>();
    let mut register = register;
    for word in words {
        register = __crc32cd(register, u64::from_le_bytes(*word));
    }
    for &byte in rest {
        register = __crc32cb(register, byte);
    }
    register
}
