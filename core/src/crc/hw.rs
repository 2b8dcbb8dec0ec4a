//! The hardware CRC-32C path.
//!
//! On `aarch64` it is one chain of the CRC extension's `crc32c` instructions. On `x86_64` it is
//! one of three paths, the first two built on the SSE4.2 `crc32` instruction:
//! - below 256 bytes (every record header and most small records), or when PCLMULQDQ is not
//!   known to be present, one chain of `crc32` steps, 8 bytes each. Each step needs the previous
//!   one's result, so the chain runs at the instruction's latency (3 cycles), a third of its
//!   throughput;
//! - from 256 bytes on, when the CPU also has PCLMULQDQ ([`clmul_available`]), three chains
//!   over three consecutive streams of each block, advanced together, merged with two carry-less
//!   multiplications by constants x^n mod P and one more `crc32` step
//!   ([`update_three_streams`]). Same results, bit for bit, about 2.3× faster at 1 KiB and
//!   2.8× at 64 KiB here;
//! - from 256 bytes on, when the CPU has AVX-512 with VPCLMULQDQ ([`fold_available`]), no
//!   `crc32` chain at all for the bulk: four 512-bit accumulators (sixteen 128-bit lanes) fold
//!   256 bytes per step with carry-less multiplications, then fold into one 128-bit lane that
//!   two `crc32` steps reduce ([`update_fold512`]). About 2× faster again (1 KiB in 21 ns
//!   instead of 41 ns, 64 KiB at 58 GB/s here). The same loop can store what it loads
//!   ([`update_copying`]): a record's payload is copied into the segment and checksummed in
//!   one pass, which costs less than the copy alone.
//!
//! The constants are derived at compile time by `const fn`s from the polynomial; tests check
//! the derivation against the portable path, every constant against feeding zero words to the
//! chain, and the whole path (each of the three, called directly) against the chain and the
//! portable path on every length up to a few KiB, from several registers and unaligned starts.
//! CI also runs the fold path's tests under Miri, with the target features switched on.
//!
//! # Safety
//!
//! This is one of the two modules of walfs that hold `unsafe` (the other is the mmap region of
//! the std backend). The only unsafe operation is calling a function compiled with
//! `#[target_feature(enable = ...)]` from code that was not: that is sound exactly when the
//! running CPU has the feature, which [`available`] (SSE4.2, or the CRC extension) and
//! [`clmul_available`] (PCLMULQDQ) establish, statically through `cfg(target_feature)` or at run
//! time through `std`'s CPU detection. The intrinsics themselves are safe to call inside such a
//! function, and the three-stream path reads the input only through safe slices (no pointer
//! loads), so it cannot read out of bounds whatever the length or alignment. The fold path loads
//! and stores 64 bytes at a time through pointers, each taken from a `&[u8; 64]` (or
//! `&mut [u8; 64]`) chunk of the caller's slices, so every access stays inside a borrow that
//! grants it.
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
#[inline]
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
        if bytes.len() >= FOLD_BLOCK && fold_available() {
            // SAFETY: `fold_available()` just returned true: the CPU has AVX-512F, VPCLMULQDQ,
            // PCLMULQDQ and SSE4.2.
            return unsafe { update_fold512(register, bytes) };
        }
        if bytes.len() >= THREE_STREAMS_MIN && clmul_available() {
            // SAFETY: `available()` returned true (see below), so the CPU has SSE4.2, and
            // `clmul_available()` just returned true, so it has PCLMULQDQ.
            return unsafe { update_three_streams(register, bytes) };
        }
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

/// [`update`] over `src`, copying `src` into `dst` (of the same length) on the way.
///
/// Only called when [`available`] returned true.
#[inline]
pub(super) fn update_copying(register: u32, src: &[u8], dst: &mut [u8]) -> u32 {
    debug_assert_eq!(src.len(), dst.len());
    #[cfg(target_arch = "x86_64")]
    {
        if src.len() >= FOLD_BLOCK && fold_available() {
            // SAFETY: as in `update`: `fold_available()` just returned true.
            return unsafe { copy_fold512(register, src, dst) };
        }
    }
    dst.copy_from_slice(src);
    update(register, src)
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
        if bytes.len() >= FOLD_BLOCK && fold_available() {
            // SAFETY: as in `update`: `fold_available()` just returned true.
            return unsafe { update_and_compare_fold512(register, bytes, side, pattern) };
        }
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
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u32, _mm_crc32_u64};
    let (words, rest) = bytes.as_chunks::<8>();
    let mut wide = u64::from(register);
    for word in words {
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(*word));
    }
    // The instruction leaves the 32-bit register zero-extended in the 64-bit value.
    #[allow(clippy::cast_possible_truncation)]
    let mut register = wide as u32;
    // Up to 7 bytes: one 4-byte step (a record's length field is exactly that), then bytes.
    let rest = match rest.split_first_chunk::<4>() {
        Some((word, rest)) => {
            register = _mm_crc32_u32(register, u32::from_le_bytes(*word));
            rest
        }
        None => rest,
    };
    for &byte in rest {
        register = _mm_crc32_u8(register, byte);
    }
    register
}

/// Inputs at least this long take the three-stream path ([`update_three_streams`]) when the
/// CPU has PCLMULQDQ; shorter ones keep the single `crc32` chain, which is as fast there (the
/// three streams cost a fixed merge of a few cycles).
#[cfg(target_arch = "x86_64")]
const THREE_STREAMS_MIN: usize = 256;

/// Whether the running CPU has PCLMULQDQ (carry-less multiplication), which the three-stream
/// path needs besides SSE4.2 to merge its streams: statically through `cfg(target_feature)`, or
/// at run time with `std`. Without either, the single `crc32` chain serves every length.
#[cfg(target_arch = "x86_64")]
#[inline]
fn clmul_available() -> bool {
    #[cfg(target_feature = "pclmulqdq")]
    {
        true
    }
    #[cfg(all(not(target_feature = "pclmulqdq"), feature = "std"))]
    {
        extern crate std;
        std::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(all(not(target_feature = "pclmulqdq"), not(feature = "std")))]
    {
        false
    }
}

/// CRC-32C's generator polynomial without its x^32 term, in the normal (non-reflected) bit
/// order: the reflection of `0x82F6_3B78`.
#[cfg(any(target_arch = "x86_64", test))]
const POLY_NORMAL: u32 = 0x1EDC_6F41;

/// `value`·x^`n` mod P, both in the normal bit order (bit `i` holds the coefficient of x^i).
#[cfg(any(target_arch = "x86_64", test))]
const fn times_x_pow_mod_p(mut value: u32, n: u32) -> u32 {
    let mut i = 0;
    while i < n {
        let carry = value & 0x8000_0000 != 0;
        value <<= 1;
        if carry {
            value ^= POLY_NORMAL;
        }
        i += 1;
    }
    value
}

/// x^`n` mod P, bit-reflected: bit `i` holds the coefficient of x^(31 - i), the order of the
/// CRC register. (The tests check [`times_x_pow_mod_p`] through it.)
#[cfg(test)]
const fn x_pow_mod_p(n: u32) -> u32 {
    times_x_pow_mod_p(1, n).reverse_bits()
}

/// Words (8 bytes) per stream in the three-stream path's full blocks: 1 KiB per stream, so the
/// merge (about a dozen cycles) is a few percent of a block (128 dependent `crc32` steps).
#[cfg(target_arch = "x86_64")]
const STREAM_WORDS: usize = 128;

/// The shortest streams worth a merge: below 3 of these words, the rest goes through one chain.
#[cfg(target_arch = "x86_64")]
const MIN_STREAM_WORDS: usize = 4;

/// `SHIFT_KEYS[w]` = x^(64·`w` - 33) mod P, reflected (index 0 unused): the multiplier that
/// moves a CRC register over `w` zero words ([`shift`]). The three-stream path needs up to
/// `2 * STREAM_WORDS + 2` words (the two streams after the first, with the leftover words).
#[cfg(target_arch = "x86_64")]
static SHIFT_KEYS: [u32; 2 * STREAM_WORDS + 3] = {
    let mut keys = [0u32; 2 * STREAM_WORDS + 3];
    // x^31 for one word, then x^64 more per word, in the normal order.
    let mut normal = times_x_pow_mod_p(1, 31);
    let mut words = 1;
    while words < keys.len() {
        keys[words] = normal.reverse_bits();
        normal = times_x_pow_mod_p(normal, 64);
        words += 1;
    }
    keys
};

/// `register`·`key` as the 64-bit operand of a `crc32` step: with `key` = x^(64·w - 33) mod P
/// ([`SHIFT_KEYS`]), `_mm_crc32_u64(0, shift(register, key))` is the register after `w` zero
/// words.
///
/// Why: `register` (bit `i` for x^(31 - i)) times `key` (bit `j` for x^(31 - j)) carry-less
/// gives bit `b` for x^(62 - b); read as a 64-bit message word (bit `b` for x^(63 - b)) that is
/// `register`·`key`·x, and a `crc32` step from zero multiplies its word by x^32 mod P:
/// `register`·x^(64·w - 33 + 33) = `register`·x^(64·w), the register moved over `w` zero words.
/// The XOR of two such operands gives the XOR of the two moved registers (all of it is linear).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "pclmulqdq")]
fn shift(register: u32, key: u32) -> core::arch::x86_64::__m128i {
    use core::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi32_si128};
    _mm_clmulepi64_si128::<0x00>(
        _mm_cvtsi32_si128(register.cast_signed()),
        _mm_cvtsi32_si128(key.cast_signed()),
    )
}

/// [`update_sse42`] for long inputs: three independent `crc32` chains.
///
/// The `crc32` instruction takes about 3 cycles to produce its result but can start a new one
/// every cycle, so one chain (each step needs the previous register) runs at a third of the
/// instruction's throughput. Here the words are cut into blocks of three equal streams A, B, C
/// (C also takes the one or two words left over): A continues from the register, B and C start
/// from zero, and the three chains advance together. A CRC is linear, so
/// `crc(r, A‖B‖C) = crc(r, A)·x^(|B|+|C|) + crc(0, B)·x^|C| + crc(0, C)` (mod P, sizes in
/// bits): the two moves are carry-less multiplications by x^n mod P ([`shift`], [`SHIFT_KEYS`])
/// reduced by one more `crc32` step. The words and bytes left over go through [`update_sse42`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2,pclmulqdq")]
fn update_three_streams(register: u32, bytes: &[u8]) -> u32 {
    use core::arch::x86_64::{_mm_crc32_u64, _mm_cvtsi128_si64, _mm_xor_si128};
    let (mut words, rest) = bytes.as_chunks::<8>();
    let mut register = register;
    while words.len() >= 3 * MIN_STREAM_WORDS {
        let per_stream = (words.len() / 3).min(STREAM_WORDS);
        let (a, after) = words.split_at(per_stream);
        let (b, after) = after.split_at(per_stream);
        // The last block's C also takes the words a division by 3 leaves over.
        let c_len = if after.len() < per_stream + 3 {
            after.len()
        } else {
            per_stream
        };
        let (c, after) = after.split_at(c_len);
        words = after;
        let mut wide_a = u64::from(register);
        let mut wide_b = 0u64;
        let mut wide_c = 0u64;
        for ((a, b), c) in a.iter().zip(b).zip(c) {
            wide_a = _mm_crc32_u64(wide_a, u64::from_le_bytes(*a));
            wide_b = _mm_crc32_u64(wide_b, u64::from_le_bytes(*b));
            wide_c = _mm_crc32_u64(wide_c, u64::from_le_bytes(*c));
        }
        for c in &c[per_stream..] {
            wide_c = _mm_crc32_u64(wide_c, u64::from_le_bytes(*c));
        }
        // The instruction leaves the 32-bit register zero-extended in the 64-bit value.
        #[allow(clippy::cast_possible_truncation)]
        let (reg_a, reg_b) = (wide_a as u32, wide_b as u32);
        let moved = _mm_xor_si128(
            shift(reg_a, SHIFT_KEYS[per_stream + c_len]),
            shift(reg_b, SHIFT_KEYS[c_len]),
        );
        let merged = _mm_crc32_u64(0, _mm_cvtsi128_si64(moved).cast_unsigned()) ^ wide_c;
        #[allow(clippy::cast_possible_truncation)]
        {
            register = merged as u32;
        }
    }
    // What is left (fewer words than three short streams, then the bytes after the last
    // whole word) goes through the single chain.
    let left = words.len() * 8 + rest.len();
    update_sse42(register, &bytes[bytes.len() - left..])
}

/// Bytes the fold path takes per step: four 512-bit accumulators. Shorter inputs, and what is
/// left after the last whole block, go through the `crc32` paths.
#[cfg(target_arch = "x86_64")]
const FOLD_BLOCK: usize = 256;

/// Whether the running CPU has what the fold path needs: AVX-512F and VPCLMULQDQ (which imply
/// the SSE4.2 and PCLMULQDQ of the other paths on every CPU that has them; they are checked too
/// at run time). Statically through `cfg(target_feature)`, or at run time with `std`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn fold_available() -> bool {
    #[cfg(all(
        target_feature = "avx512f",
        target_feature = "vpclmulqdq",
        target_feature = "pclmulqdq",
        target_feature = "sse4.2"
    ))]
    {
        true
    }
    #[cfg(all(
        not(all(
            target_feature = "avx512f",
            target_feature = "vpclmulqdq",
            target_feature = "pclmulqdq",
            target_feature = "sse4.2"
        )),
        feature = "std",
        not(miri)
    ))]
    {
        // One relaxed load per call once known: the four feature tests cost more than that on
        // every append (each is a load and a test of std's cache).
        use core::sync::atomic::{AtomicU8, Ordering};
        /// 0: not detected yet, 1: absent, 2: present.
        static FOLD: AtomicU8 = AtomicU8::new(0);
        #[cold]
        fn detect() -> bool {
            extern crate std;
            let present = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("vpclmulqdq")
                && std::is_x86_feature_detected!("pclmulqdq")
                && std::is_x86_feature_detected!("sse4.2");
            FOLD.store(if present { 2 } else { 1 }, Ordering::Relaxed);
            present
        }
        match FOLD.load(Ordering::Relaxed) {
            0 => detect(),
            known => known == 2,
        }
    }
    #[cfg(all(
        not(all(
            target_feature = "avx512f",
            target_feature = "vpclmulqdq",
            target_feature = "pclmulqdq",
            target_feature = "sse4.2"
        )),
        any(not(feature = "std"), miri)
    ))]
    {
        false
    }
}

/// The fold multipliers for moving a 128-bit lane forward by `bits`: (x^(`bits` + 31) mod P,
/// x^(`bits` - 33) mod P), reflected, for the lane's first and second 64-bit halves.
///
/// Why: a lane holds 16 message bytes; read in the register's (reflected) order, its first
/// half `L` weighs x^64 more than its second half `H`, so the lane is `L`·x^64 + `H`. A
/// carry-less product of a 64-bit half by a 32-bit key, read back as a lane, comes out
/// multiplied by x^33 (the same bookkeeping as [`shift`]). Multiplying `L` by x^(`bits` + 31)
/// and `H` by x^(`bits` - 33) therefore gives a lane congruent to (`L`·x^64 + `H`)·x^`bits`:
/// the old lane's weight at the place `bits` later, where the XOR adds it to that lane.
#[cfg(target_arch = "x86_64")]
const fn fold_keys(bits: u32) -> [u64; 2] {
    [
        times_x_pow_mod_p(1, bits + 31).reverse_bits() as u64,
        times_x_pow_mod_p(1, bits - 33).reverse_bits() as u64,
    ]
}

/// Moves each 128-bit lane of a 512-bit accumulator over 2048 bits (the next 256-byte block).
#[cfg(target_arch = "x86_64")]
const FOLD_2048: [u64; 2] = fold_keys(2048);
/// Moves the accumulators of one block onto the last: over 1536, 1024 and 512 bits.
#[cfg(target_arch = "x86_64")]
const FOLD_1536: [u64; 2] = fold_keys(1536);
#[cfg(target_arch = "x86_64")]
const FOLD_1024: [u64; 2] = fold_keys(1024);
#[cfg(target_arch = "x86_64")]
const FOLD_512: [u64; 2] = fold_keys(512);
/// Moves the lanes of the last 512 bits onto its last lane: over 384, 256 and 128 bits.
#[cfg(target_arch = "x86_64")]
const FOLD_384: [u64; 2] = fold_keys(384);
#[cfg(target_arch = "x86_64")]
const FOLD_256: [u64; 2] = fold_keys(256);
#[cfg(target_arch = "x86_64")]
const FOLD_128: [u64; 2] = fold_keys(128);

/// The four 512-bit accumulators of the fold path.
#[cfg(target_arch = "x86_64")]
type Lanes = [core::arch::x86_64::__m512i; 4];

/// `keys` in every 128-bit lane of a 512-bit vector.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn broadcast(keys: [u64; 2]) -> core::arch::x86_64::__m512i {
    use core::arch::x86_64::{_mm_set_epi64x, _mm512_broadcast_i32x4};
    _mm512_broadcast_i32x4(_mm_set_epi64x(keys[1].cast_signed(), keys[0].cast_signed()))
}

/// Each lane of `lanes` moved forward by the keys' distance ([`fold_keys`]), combined by XOR
/// with `next`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,vpclmulqdq")]
fn fold_into(
    lanes: core::arch::x86_64::__m512i,
    keys: core::arch::x86_64::__m512i,
    next: core::arch::x86_64::__m512i,
) -> core::arch::x86_64::__m512i {
    use core::arch::x86_64::{_mm512_clmulepi64_epi128, _mm512_xor_si512};
    // The compiler fuses the two XORs into one three-way `vpternlogq`.
    _mm512_xor_si512(
        _mm512_xor_si512(
            _mm512_clmulepi64_epi128::<0x00>(lanes, keys),
            _mm512_clmulepi64_epi128::<0x11>(lanes, keys),
        ),
        next,
    )
}

/// Loads a 64-byte chunk.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn load(chunk: &[u8; 64]) -> core::arch::x86_64::__m512i {
    // SAFETY: the pointer comes from a reference to exactly 64 readable bytes, and the unaligned
    // load has no alignment requirement.
    unsafe { core::arch::x86_64::_mm512_loadu_si512(chunk.as_ptr().cast()) }
}

/// Stores a 64-byte chunk.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn store(chunk: &mut [u8; 64], value: core::arch::x86_64::__m512i) {
    // SAFETY: the pointer comes from a unique reference to exactly 64 writable bytes, and the
    // unaligned store has no alignment requirement.
    unsafe { core::arch::x86_64::_mm512_storeu_si512(chunk.as_mut_ptr().cast(), value) }
}

/// The four 512-bit vectors of a 256-byte block.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn load_block(block: &[u8; FOLD_BLOCK]) -> Lanes {
    let (chunks, _) = block.as_chunks::<64>();
    [
        load(&chunks[0]),
        load(&chunks[1]),
        load(&chunks[2]),
        load(&chunks[3]),
    ]
}

/// The first block's lanes, with the register added (XOR) into its first four bytes: a CRC from
/// register `r` over a message equals a CRC from 0 over the message with `r` added into its
/// first 32 bits.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn start_lanes(register: u32, mut lanes: Lanes) -> Lanes {
    use core::arch::x86_64::{_mm_cvtsi32_si128, _mm512_xor_si512, _mm512_zextsi128_si512};
    lanes[0] = _mm512_xor_si512(
        lanes[0],
        _mm512_zextsi128_si512(_mm_cvtsi32_si128(register.cast_signed())),
    );
    lanes
}

/// Moves the accumulators one block forward, onto `next`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,vpclmulqdq")]
fn fold_block(lanes: Lanes, next: Lanes) -> Lanes {
    let keys = broadcast(FOLD_2048);
    [
        fold_into(lanes[0], keys, next[0]),
        fold_into(lanes[1], keys, next[1]),
        fold_into(lanes[2], keys, next[2]),
        fold_into(lanes[3], keys, next[3]),
    ]
}

/// Folds the sixteen lanes of the last block into one and reduces it to the CRC register (two
/// `crc32` steps over its 16 bytes from a zero register: the lane is congruent to the whole
/// message so far, register folded in).
///
/// Every move is independent of the others (each lane goes straight to the last one, by its
/// own distance), so the folds run side by side and only XORs wait on each other: a 1 KiB
/// CRC spends most of its time here, on latency rather than throughput.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq,sse4.2")]
fn finish_lanes(lanes: Lanes) -> u32 {
    use core::arch::x86_64::{
        _mm_crc32_u64, _mm_cvtsi128_si64, _mm_extract_epi64, _mm_xor_si128, _mm256_castsi256_si128,
        _mm256_extracti128_si256, _mm256_xor_si256, _mm512_castsi512_si256,
        _mm512_clmulepi64_epi128, _mm512_extracti32x4_epi32, _mm512_extracti64x4_epi64,
        _mm512_set_epi64, _mm512_setzero_si512, _mm512_xor_si512,
    };
    let zero = _mm512_setzero_si512();
    // The four accumulators onto the last one: over 1536, 1024 and 512 bits.
    let last = _mm512_xor_si512(
        fold_into(lanes[0], broadcast(FOLD_1536), lanes[3]),
        _mm512_xor_si512(
            fold_into(lanes[1], broadcast(FOLD_1024), zero),
            fold_into(lanes[2], broadcast(FOLD_512), zero),
        ),
    );
    // Its first three lanes onto its fourth, over 384, 256 and 128 bits, in one multiplication
    // per half; the fourth lane's keys are zero, so it moves to nothing and is added back below.
    let keys = _mm512_set_epi64(
        0,
        0,
        FOLD_128[1].cast_signed(),
        FOLD_128[0].cast_signed(),
        FOLD_256[1].cast_signed(),
        FOLD_256[0].cast_signed(),
        FOLD_384[1].cast_signed(),
        FOLD_384[0].cast_signed(),
    );
    let moved = _mm512_xor_si512(
        _mm512_clmulepi64_epi128::<0x00>(last, keys),
        _mm512_clmulepi64_epi128::<0x11>(last, keys),
    );
    let halves = _mm256_xor_si256(
        _mm512_castsi512_si256(moved),
        _mm512_extracti64x4_epi64::<1>(moved),
    );
    let lane = _mm_xor_si128(
        _mm_xor_si128(
            _mm256_castsi256_si128(halves),
            _mm256_extracti128_si256::<1>(halves),
        ),
        _mm512_extracti32x4_epi32::<3>(last),
    );
    let first = _mm_cvtsi128_si64(lane).cast_unsigned();
    let second = _mm_extract_epi64::<1>(lane).cast_unsigned();
    // The instruction leaves the 32-bit register zero-extended in the 64-bit value.
    #[allow(clippy::cast_possible_truncation)]
    let register = _mm_crc32_u64(_mm_crc32_u64(0, first), second) as u32;
    register
}

/// [`update_sse42`] for inputs of at least one [`FOLD_BLOCK`]: carry-less folding of 256-byte
/// blocks (see the module documentation), the bytes after the last whole block through the
/// single `crc32` chain.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq,sse4.2")]
fn update_fold512(register: u32, bytes: &[u8]) -> u32 {
    let (blocks, rest) = bytes.as_chunks::<FOLD_BLOCK>();
    let Some((first, blocks)) = blocks.split_first() else {
        return update_sse42(register, bytes);
    };
    let mut lanes = start_lanes(register, load_block(first));
    for block in blocks {
        lanes = fold_block(lanes, load_block(block));
    }
    update_sse42(finish_lanes(lanes), rest)
}

/// [`update_and_compare`] on the fold path. The fold runs at the speed of memory, not at the
/// latency of a chain, so there is no idle slot to hide the comparison in: it is a second pass,
/// which the compiler vectorizes with the same AVX-512 registers (eight words per step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq,sse4.2")]
fn update_and_compare_fold512(
    register: u32,
    bytes: &[u8],
    side: &[[u8; 8]],
    pattern: u64,
) -> (u32, u64) {
    (
        update_fold512(register, bytes),
        super::difference(side, pattern),
    )
}

/// [`update_fold512`] over `src`, storing each 64-byte vector it loads into `dst` (same
/// length) as it goes; the bytes after the last whole block are copied and then fed to the
/// `crc32` chain.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq,sse4.2")]
fn copy_fold512(register: u32, src: &[u8], dst: &mut [u8]) -> u32 {
    let (blocks, rest) = src.as_chunks::<FOLD_BLOCK>();
    let (targets, rest_target) = dst.as_chunks_mut::<FOLD_BLOCK>();
    let Some((first, blocks)) = blocks.split_first() else {
        dst.copy_from_slice(src);
        return update_sse42(register, src);
    };
    let copy = |target: &mut [u8; FOLD_BLOCK], lanes: Lanes| {
        let (chunks, _) = target.as_chunks_mut::<64>();
        for (chunk, lane) in chunks.iter_mut().zip(lanes) {
            // A closure takes the target features of the function it is written in.
            store(chunk, lane);
        }
    };
    let mut targets = targets.iter_mut();
    let loaded = load_block(first);
    if let Some(target) = targets.next() {
        copy(target, loaded);
    }
    let mut lanes = start_lanes(register, loaded);
    for (block, target) in blocks.iter().zip(targets) {
        let loaded = load_block(block);
        copy(target, loaded);
        lanes = fold_block(lanes, loaded);
    }
    rest_target.copy_from_slice(rest);
    update_sse42(finish_lanes(lanes), rest)
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

#[cfg(test)]
mod tests {
    use super::super::{Crc32c, CrcPath};

    /// The CRC of `bytes` on the portable path.
    fn portable(bytes: &[u8]) -> u32 {
        let mut crc = Crc32c::with_path(CrcPath::Portable).unwrap();
        crc.update(bytes);
        crc.finish()
    }

    /// Runs `check` on slices of a fixed pseudo-random buffer: every length up to 3200 bytes
    /// from starts 0 to 3 (under Miri, `miri_lengths` from starts 0 and 1).
    fn each_slice(
        miri_lengths: core::iter::StepBy<core::ops::RangeInclusive<usize>>,
        mut check: impl FnMut(usize, usize, &[u8]),
    ) {
        let data: [u8; 3300] = core::array::from_fn(|i| {
            let i = u32::try_from(i).unwrap();
            i.wrapping_mul(0x9E37_79B9).to_le_bytes()[3]
        });
        let (lengths, starts) = if cfg!(miri) {
            (miri_lengths, 0..2)
        } else {
            ((0..=3200).step_by(1), 0..4)
        };
        for start in starts {
            for len in lengths.clone() {
                check(start, len, &data[start..start + len]);
            }
        }
    }

    /// The derivation of the merge constants agrees with the portable CRC: from a zero
    /// register, the message "one bit, then `n - 32` zero bits" leaves x^n mod P in the register.
    /// A zero register is reached through the standard CRC by cancelling out (XOR) the CRC of as
    /// many zero bytes (the initial `0xFFFF_FFFF` contributes the same to both).
    #[test]
    fn x_pow_mod_p_agrees_with_the_portable_crc() {
        let mut message = [0u8; 80];
        for zeros in 0..message.len() {
            // Byte 0x01 is the bit for x^7 of an 8-bit message (reflected order: bit 0 first).
            message[0] = 1;
            let one = portable(&message[..=zeros]);
            message[0] = 0;
            let register = one ^ portable(&message[..=zeros]);
            let n = u32::try_from(39 + 8 * zeros).unwrap();
            assert_eq!(super::x_pow_mod_p(n), register, "x^{n}");
        }
        assert_eq!(super::x_pow_mod_p(0), 0x8000_0000);
        assert_eq!(super::x_pow_mod_p(32), 0x82F6_3B78);
    }

    /// Every merge constant moves a register over its number of zero words: the same as
    /// feeding the zero words to the `crc32` chain.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn shift_keys_move_a_register_over_zero_words() {
        use core::arch::x86_64::{_mm_crc32_u64, _mm_cvtsi128_si64};
        if !(super::available() && super::clmul_available()) {
            return;
        }
        let zeros = [0u8; 8 * super::SHIFT_KEYS.len()];
        let keys = if cfg!(miri) {
            1..12
        } else {
            1..super::SHIFT_KEYS.len()
        };
        for words in keys {
            for register in [1u32, 0x8000_0000, 0x1234_5678, !0] {
                // SAFETY: `available()` and `clmul_available()` returned true above: the CPU has
                // SSE4.2 and PCLMULQDQ.
                let operand = unsafe { super::shift(register, super::SHIFT_KEYS[words]) };
                // SAFETY: as above (SSE2 is part of `x86_64`).
                let operand = unsafe { _mm_cvtsi128_si64(operand) }.cast_unsigned();
                // SAFETY: as above.
                let moved = unsafe { _mm_crc32_u64(0, operand) };
                // SAFETY: as above.
                let chained = unsafe { super::update_sse42(register, &zeros[..8 * words]) };
                assert_eq!(u64::from(chained), moved, "{words} words from {register:x}");
            }
        }
    }

    /// The three-stream path, called directly for every length (also those below
    /// `THREE_STREAMS_MIN`, which `update` sends to the single chain), from several registers
    /// and unaligned starts, equals the single `crc32` chain and the portable path.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn three_streams_equal_the_crc32_chain_and_the_portable_path() {
        if !(super::available() && super::clmul_available()) {
            return;
        }
        each_slice((90..=200).step_by(5), |start, len, bytes| {
            for register in [!0u32, 0, 0x1234_5678] {
                // SAFETY: `available()` and `clmul_available()` returned true above: the CPU
                // has SSE4.2 and PCLMULQDQ.
                let streams = unsafe { super::update_three_streams(register, bytes) };
                // SAFETY: as above, the CPU has SSE4.2.
                let chained = unsafe { super::update_sse42(register, bytes) };
                assert_eq!(
                    streams, chained,
                    "start {start} len {len} register {register:x}"
                );
            }
            assert_eq!(
                // SAFETY: as above.
                !unsafe { super::update_three_streams(!0, bytes) },
                portable(bytes),
                "start {start} len {len}"
            );
        });
    }

    /// The fold path, called directly for every length up to 3200 bytes (below one block it
    /// falls back to the chain), from several registers and unaligned starts, equals the single
    /// `crc32` chain and the portable path; its copying form also leaves an exact copy.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn fold_path_equals_the_crc32_chain_and_the_portable_path_and_copies_exactly() {
        if !super::fold_available() {
            return;
        }
        let mut copy = [0u8; 3300];
        each_slice((250..=780).step_by(53), |start, len, bytes| {
            for register in [!0u32, 0, 0x1234_5678] {
                // SAFETY: `fold_available()` returned true above: the CPU has AVX-512F,
                // VPCLMULQDQ, PCLMULQDQ and SSE4.2.
                let folded = unsafe { super::update_fold512(register, bytes) };
                // SAFETY: as above, the CPU has SSE4.2.
                let chained = unsafe { super::update_sse42(register, bytes) };
                assert_eq!(
                    folded, chained,
                    "start {start} len {len} register {register:x}"
                );
                // The copy lands at another misalignment than the source, over stale bytes.
                copy.fill(0xA5);
                let (at, end) = (3 - start, 3 - start + len);
                // SAFETY: as above.
                let copied = unsafe { super::copy_fold512(register, bytes, &mut copy[at..end]) };
                assert_eq!(copied, chained, "copying: start {start} len {len}");
                assert_eq!(&copy[at..end], bytes, "copy of len {len}");
                let around = copy[..at].iter().chain(&copy[end..]);
                assert!(around.copied().all(|b| b == 0xA5), "bytes around the copy");
            }
            assert_eq!(
                // SAFETY: as above.
                !unsafe { super::update_fold512(!0, bytes) },
                portable(bytes),
                "start {start} len {len}"
            );
        });
    }

    /// Through the public API (whatever path this CPU takes), a copying update after an
    /// optional 4-byte prefix (a frame's length field) gives the portable CRC of prefix and
    /// piece, and an exact copy, for pieces on both sides of the fold block.
    #[test]
    fn a_copying_update_after_a_prefix_gives_the_crc_and_an_exact_copy() {
        let data: [u8; 1500] = core::array::from_fn(|i| {
            let i = u32::try_from(i).unwrap();
            i.wrapping_mul(0x85EB_CA6B).to_le_bytes()[2]
        });
        let lengths: &[usize] = if cfg!(miri) {
            &[0, 4, 300]
        } else {
            &[0, 1, 4, 255, 256, 257, 511, 512, 1024, 1028, 1496]
        };
        for &head in &[0usize, 4] {
            for &len in lengths {
                let len = len.min(data.len() - head);
                let mut copy = [0u8; 1500];
                let mut crc = Crc32c::new();
                crc.update(&data[..head]);
                crc.update_copying(&data[head..head + len], &mut copy[head..head + len]);
                assert_eq!(
                    crc.finish(),
                    portable(&data[..head + len]),
                    "{head} + {len}"
                );
                assert_eq!(&copy[head..head + len], &data[head..head + len]);
            }
        }
    }
}
