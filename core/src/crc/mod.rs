//! CRC-32C (Castagnoli), the checksum of every header and record (SPEC §1.4).
//!
//! Two implementations give identical results:
//! - the portable path, the `crc` crate, on every target: slice-by-16 tables on `x86_64` and
//!   `aarch64`, a 1 KiB table elsewhere, or as the `crc-table-*` features say (module `soft`);
//! - the hardware path (module `hw`): the SSE4.2 `crc32` instruction on `x86_64` (from 256 bytes
//!   on, 256-byte blocks folded with AVX-512 VPCLMULQDQ when the CPU has it, otherwise three
//!   interleaved chains merged with PCLMULQDQ) and the CRC extension on `aarch64`. It is chosen
//!   at compile time when the target enables the feature (`-C target-cpu=native`, or a target
//!   that implies it), and at run time with the `std` feature.
//!
//! [`Crc32c::update_copying`] checksums bytes while copying them, in one pass on the fold path:
//! record writers use it to place a payload in a segment.
//!
//! [`crc32c`] is the one-shot form; [`Crc32c`] streams, which the record frame needs (the CRC
//! covers the 4 length bytes followed by the payload, which are not contiguous in the caller's
//! memory).

mod hw;
mod soft;

/// CRC-32C of `bytes` (initial value `0xFFFF_FFFF`, reflected, final xor `0xFFFF_FFFF`).
///
/// ```
/// assert_eq!(walfs_core::crc::crc32c(b"123456789"), 0xE306_9283);
/// ```
#[inline]
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = Crc32c::new();
    crc.update(bytes);
    crc.finish()
}

/// Which implementation computes a [`Crc32c`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcPath {
    /// The `crc` crate's table-driven implementation; available everywhere.
    Portable,
    /// The CPU's CRC-32C instruction (SSE4.2 on `x86_64`, the CRC extension on `aarch64`).
    Hardware,
}

impl CrcPath {
    /// The fastest path available on this CPU: hardware when the target enables it at compile
    /// time, or (with the `std` feature) when the running CPU reports it; portable otherwise.
    #[inline]
    pub fn best() -> Self {
        if hw::available() {
            CrcPath::Hardware
        } else {
            CrcPath::Portable
        }
    }

    /// Whether this path can run on this CPU.
    pub fn is_available(self) -> bool {
        match self {
            CrcPath::Portable => true,
            CrcPath::Hardware => hw::available(),
        }
    }
}

/// A streaming CRC-32C computation.
///
/// ```
/// use walfs_core::crc::Crc32c;
/// let mut crc = Crc32c::new();
/// crc.update(b"1234");
/// crc.update(b"56789");
/// assert_eq!(crc.finish(), 0xE306_9283);
/// ```
#[derive(Clone)]
pub struct Crc32c {
    state: State,
}

#[derive(Clone)]
enum State {
    Portable(soft::Digest),
    /// The raw CRC register (not inverted), as the CPU instructions use it.
    Hardware(u32),
}

impl Crc32c {
    /// A new computation on the fastest available path ([`CrcPath::best`]).
    #[inline]
    pub fn new() -> Self {
        if hw::available() {
            Crc32c {
                state: State::Hardware(!0),
            }
        } else {
            Crc32c {
                state: State::Portable(soft::Digest::new()),
            }
        }
    }

    /// A new computation on the given path, or `None` if this CPU cannot run it.
    pub fn with_path(path: CrcPath) -> Option<Self> {
        match path {
            CrcPath::Portable => Some(Crc32c {
                state: State::Portable(soft::Digest::new()),
            }),
            CrcPath::Hardware if hw::available() => Some(Crc32c {
                state: State::Hardware(!0),
            }),
            CrcPath::Hardware => None,
        }
    }

    /// The path this computation runs on.
    pub fn path(&self) -> CrcPath {
        match self.state {
            State::Portable(_) => CrcPath::Portable,
            State::Hardware(_) => CrcPath::Hardware,
        }
    }

    /// Feeds `bytes` into the computation.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Portable(digest) => digest.update(bytes),
            State::Hardware(register) => *register = hw::update(*register, bytes),
        }
    }

    /// Feeds `src` into the computation and copies it into `dst` in the same pass.
    ///
    /// On the hardware path with AVX-512 and VPCLMULQDQ, each 64-byte vector is loaded once,
    /// stored into `dst` and folded into the CRC, which costs less than the copy alone; elsewhere
    /// it is a copy followed by [`Crc32c::update`]. Record writers use it to place a payload in
    /// a segment and checksum it at once.
    ///
    /// ```
    /// use walfs_core::crc::{Crc32c, crc32c};
    /// let src = [7u8; 1000];
    /// let mut dst = [0u8; 1000];
    /// let mut crc = Crc32c::new();
    /// crc.update_copying(&src, &mut dst);
    /// assert_eq!(crc.finish(), crc32c(&src));
    /// assert_eq!(dst, src);
    /// ```
    ///
    /// # Panics
    /// If `src` and `dst` differ in length.
    #[inline]
    pub fn update_copying(&mut self, src: &[u8], dst: &mut [u8]) {
        assert_eq!(src.len(), dst.len(), "update_copying: lengths differ");
        match &mut self.state {
            State::Portable(digest) => {
                dst.copy_from_slice(src);
                digest.update(src);
            }
            State::Hardware(register) => *register = hw::update_copying(*register, src, dst),
        }
    }

    /// Feeds `bytes` into the computation and, in the same pass, returns the OR of the
    /// differences of the words of `side` from `pattern`: 0 when every word equals it.
    ///
    /// The hardware CRC is bound by the latency of its instruction (one 8-byte step every few
    /// cycles, one chain), so loading and comparing a second stream of words alongside it costs
    /// next to nothing: the recovery scan checks erased space this way while it verifies records
    /// (see `scan`). The portable path makes two passes.
    #[inline]
    pub(crate) fn update_and_compare(
        &mut self,
        bytes: &[u8],
        side: &[[u8; 8]],
        pattern: u64,
    ) -> u64 {
        match &mut self.state {
            State::Portable(digest) => {
                digest.update(bytes);
                difference(side, pattern)
            }
            State::Hardware(register) => {
                let (updated, any) = hw::update_and_compare(*register, bytes, side, pattern);
                *register = updated;
                any
            }
        }
    }

    /// The CRC of everything fed so far.
    #[inline]
    pub fn finish(self) -> u32 {
        match self.state {
            State::Portable(digest) => digest.finish(),
            State::Hardware(register) => !register,
        }
    }
}

/// The OR of the differences of `words` from `pattern`.
#[inline]
fn difference(words: &[[u8; 8]], pattern: u64) -> u64 {
    words
        .iter()
        .fold(0, |any, word| any | (u64::from_le_bytes(*word) ^ pattern))
}

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Crc32c {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Crc32c")
            .field("path", &self.path())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_matches_the_standard() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn every_available_path_gives_the_check_value() {
        for path in [CrcPath::Portable, CrcPath::Hardware] {
            let Some(mut crc) = Crc32c::with_path(path) else {
                continue;
            };
            crc.update(b"123456789");
            assert_eq!(crc.finish(), 0xE306_9283, "{path:?}");
        }
    }

    #[test]
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "sse4.2"),
        all(target_arch = "aarch64", target_feature = "crc")
    ))]
    fn compile_time_target_feature_selects_the_hardware_path() {
        assert_eq!(CrcPath::best(), CrcPath::Hardware);
        assert_eq!(Crc32c::new().path(), CrcPath::Hardware);
    }

    #[test]
    fn paths_agree_on_every_length_and_split() {
        let data: [u8; 67] =
            core::array::from_fn(|i| u8::try_from(i).unwrap().wrapping_mul(151).wrapping_add(7));
        for len in 0..data.len() {
            for split in 0..=len {
                let mut portable = Crc32c::with_path(CrcPath::Portable).unwrap();
                portable.update(&data[..split]);
                portable.update(&data[split..len]);
                let expected = portable.finish();
                if let Some(mut hardware) = Crc32c::with_path(CrcPath::Hardware) {
                    hardware.update(&data[..split]);
                    hardware.update(&data[split..len]);
                    assert_eq!(hardware.finish(), expected, "len {len} split {split}");
                }
                assert_eq!(crc32c(&data[..len]), expected);
            }
        }
    }

    /// Bytes that look random, for the long-input tests.
    fn noise<const N: usize>() -> [u8; N] {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        core::array::from_fn(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[7]
        })
    }

    /// The hardware path (one `crc32` chain below 256 bytes, three merged chains above when the
    /// CPU has PCLMULQDQ) equals the portable path on every length up to 4 KiB, from aligned and
    /// unaligned starts, in one update and split in two.
    #[test]
    fn paths_agree_on_every_length_up_to_4_kib_and_unaligned_starts() {
        let data: [u8; 4096 + 16] = noise();
        let Some(hardware) = Crc32c::with_path(CrcPath::Hardware) else {
            return;
        };
        let portable = Crc32c::with_path(CrcPath::Portable).unwrap();
        let crc_on = |start: &Crc32c, parts: &[&[u8]]| {
            let mut crc = start.clone();
            for part in parts {
                crc.update(part);
            }
            crc.finish()
        };
        // Under Miri, the edges: short, around the 256-byte switch, one block of three streams
        // with 0 to 2 words left over, full blocks (3 KiB) with a rest, and the longest.
        let miri_lengths = [
            0, 9, 255, 256, 257, 264, 272, 300, 1023, 3071, 3072, 3090, 3200, 4096,
        ];
        let lengths: &mut dyn Iterator<Item = usize> = if cfg!(miri) {
            &mut miri_lengths.into_iter()
        } else {
            &mut (0..=4096)
        };
        for len in lengths {
            for start in [0, 1, 7, 13] {
                let bytes = &data[start..start + len];
                let expected = crc_on(&portable, &[bytes]);
                assert_eq!(
                    crc_on(&hardware, &[bytes]),
                    expected,
                    "len {len} start {start}"
                );
                let (head, tail) = bytes.split_at(len / 3);
                assert_eq!(
                    crc_on(&hardware, &[head, tail]),
                    expected,
                    "len {len} split"
                );
            }
        }
        assert_eq!(crc_on(&hardware, &[&data[..4096]]), crc32c(&data[..4096]));
    }

    /// Long inputs fed in random pieces (empty, short, long, at every alignment) give the CRC
    /// of the whole on both paths.
    #[test]
    fn random_splits_of_long_inputs_give_the_one_shot_crc() {
        let data: [u8; 20_000] = noise();
        let expected = {
            let mut crc = Crc32c::with_path(CrcPath::Portable).unwrap();
            crc.update(&data);
            crc.finish()
        };
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut random = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % u64::try_from(below).unwrap()).unwrap()
        };
        let rounds = if cfg!(miri) { 1 } else { 200 };
        for path in [CrcPath::Portable, CrcPath::Hardware] {
            let Some(start) = Crc32c::with_path(path) else {
                continue;
            };
            for round in 0..rounds {
                let mut crc = start.clone();
                let mut rest = &data[..];
                while !rest.is_empty() {
                    // Mostly short pieces, some up to 5 KiB.
                    let limit = if random(4) == 0 { 5000 } else { 300 };
                    let (piece, after) = rest.split_at(random(limit + 1).min(rest.len()));
                    crc.update(piece);
                    rest = after;
                }
                assert_eq!(crc.finish(), expected, "{path:?} round {round}");
            }
        }
    }

    /// The fused pass gives the CRC of `bytes` and the comparison of `side`, on both paths,
    /// whatever the lengths of the two and wherever `side` differs.
    #[test]
    fn update_and_compare_gives_the_crc_and_finds_every_differing_word() {
        // Lengths from 256 bytes on take the fold path where the CPU has it; side lengths that
        // are not a multiple of a vector's eight words check the vectorized comparison's tail.
        let data: [u8; 600] = core::array::from_fn(|i| {
            u8::try_from(i % 256)
                .unwrap()
                .wrapping_mul(151)
                .wrapping_add(7)
        });
        for path in [CrcPath::Portable, CrcPath::Hardware] {
            for len in [0usize, 3, 8, 15, 16, 40, 67, 256, 300, 600] {
                for side_words in [0usize, 1, 2, 5, 8, 12, 17, 40] {
                    let Some(mut crc) = Crc32c::with_path(path) else {
                        continue;
                    };
                    let mut side = [[0xFFu8; 8]; 40];
                    let any = crc.update_and_compare(&data[..len], &side[..side_words], u64::MAX);
                    assert_eq!(any, 0);
                    assert_eq!(crc.finish(), crc32c(&data[..len]), "{path:?} {len}");
                    for word in 0..side_words {
                        for byte in [0, 7] {
                            side[word][byte] = 0xFE;
                            let mut crc = Crc32c::with_path(path).unwrap();
                            let any =
                                crc.update_and_compare(&data[..len], &side[..side_words], u64::MAX);
                            assert_ne!(any, 0, "{path:?} {len} {side_words} {word} {byte}");
                            assert_eq!(crc.finish(), crc32c(&data[..len]));
                            side[word][byte] = 0xFF;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn zero_length_record_crc_is_not_zero() {
        // A zero-length record's CRC covers the 4 length bytes only; it is never 0, so a zeroed
        // frame header (crc 0, length 0) can only be never-written space.
        assert_eq!(crc32c(&[0, 0, 0, 0]), 0x4867_4BC7);
    }
}
