//! Cross-crate tests of walfs: files written by the Go original (`fixtures/go-walfs`), property
//! tests of the recovery scan, and bytes that must never make the core panic. The tests live in
//! `tests/`; this library holds what they share.

pub mod payload;
pub mod relisted;

/// The README's code examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
