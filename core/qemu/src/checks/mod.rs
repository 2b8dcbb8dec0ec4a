//! The checks of the `checks` firmware, in the order it runs them.

mod crc;
mod fixture;
mod segment;
mod spec;
mod unaligned;

use crate::nor_checks::Check;

/// The checks on walfs-core's format, CRC, recovery and reader, by name.
pub const CHECKS: &[Check] = &[
    ("spec_1_8_header_bytes", spec::header_bytes),
    ("spec_1_8_hello_frame", spec::hello_frame),
    ("crc32c_check_value_portable", crc::check_value_portable),
    (
        "crc32c_agrees_with_bitwise_reference",
        crc::agrees_with_reference,
    ),
    (
        "go_fixture_case02_segment1_scan",
        fixture::case02_segment1_scan,
    ),
    (
        "go_fixture_case02_segment1_open_and_read",
        fixture::case02_segment1_open_and_read,
    ),
    (
        "ram_append_seal_reopen_scan",
        segment::append_seal_reopen_scan,
    ),
    (
        "torn_tail_above_the_watermark",
        segment::torn_tail_above_the_watermark,
    ),
    (
        "corruption_below_the_watermark",
        segment::corruption_below_the_watermark,
    ),
    (
        "cursor_across_a_whole_segment",
        segment::cursor_across_a_whole_segment,
    ),
    (
        "unaligned_regions_and_buffers",
        unaligned::regions_and_buffers,
    ),
    (
        "unaligned_crc_header_position",
        unaligned::crc_header_position,
    ),
];

/// Every check: the ones above, then the NOR-flash adapter's (shared with the host tests).
pub fn all() -> impl Iterator<Item = &'static Check> {
    CHECKS.iter().chain(crate::nor_checks::CHECKS)
}
