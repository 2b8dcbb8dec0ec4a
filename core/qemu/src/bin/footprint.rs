//! The footprint firmware: creates a segment in RAM, appends, syncs, recovers it and reads a
//! record back with walfs-core, and nothing that formats text, so its flash is walfs's own cost
//! (plus the Cortex-M runtime). `scripts/footprint.sh` builds it per CRC table choice, reads its
//! size and runs it in QEMU for the peak stack.
//!
//! The stack below `main`'s frame is painted with a pattern before the work starts; afterwards the
//! lowest overwritten word gives the peak stack use of the whole run (reset handler, `main` and
//! walfs-core). The result is reported through the exit status only:
//!
//! | exit status | meaning |
//! | --- | --- |
//! | 1 | a panic or a fault |
//! | 2..=15 | step N of the work failed |
//! | 16..=255 | success; peak stack = (status - 15) × 16 bytes, rounded up (255: 3840 or more) |
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use core::ptr::addr_of;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use walfs_core::{OpenOptions, RamRegion, Segment, SegmentId, SegmentInit};
use walfs_core_qemu::exit;

/// The segment's bytes: a static, so they are not counted as stack.
static mut SEGMENT: [u8; 4096] = [0; 4096];

/// The pattern painted over the unused stack.
const PAINT: u32 = 0xC5AC_CE55;
/// How far below the top of RAM the stack is painted (it can use more, but not within budget).
const PAINT_WINDOW: usize = 32 * 1024;
/// Bytes left unpainted below `main`'s stack pointer.
const PAINT_MARGIN: usize = 64;

unsafe extern "C" {
    /// Top of the stack (cortex-m-rt's linker script).
    static _stack_start: u32;
    /// Lowest address the stack may reach (cortex-m-rt's linker script).
    static _stack_end: u32;
}

/// The work measured: every step returns its number on failure.
#[inline(never)]
fn work(bytes: &'static mut [u8]) -> Result<(), u8> {
    let id = SegmentId(1);
    let init = SegmentInit {
        created_at: 1,
        marker: 0,
        first_log_index: 1,
    };
    let mut segment = Segment::create(RamRegion::new(bytes), id, init).map_err(|_| 2)?;
    segment.append(b"hello", 1).map_err(|_| 3)?;
    let second = segment.append(b"embedded walfs", 2).map_err(|_| 3)?;
    segment.append(&[0xA5; 100], 3).map_err(|_| 3)?;
    segment.sync(2).map_err(|_| 4)?;

    // Recover it as after a reset: scan, verdict, end.
    let region = segment.into_region();
    let (mut segment, report) = Segment::open(region, id, OpenOptions::default()).map_err(|_| 5)?;
    if segment.record_count() != 3 || report.scan.is_none_or(|scan| scan.damage().is_some()) {
        return Err(6);
    }
    let frame = segment.read(second).map_err(|_| 7)?;
    let mut buf = [0u8; 32];
    let payload = segment.read_payload(&frame, &mut buf).map_err(|_| 8)?;
    if payload != b"embedded walfs" {
        return Err(9);
    }
    segment.append(b"after recovery", 4).map_err(|_| 10)?;
    segment.sync(3).map_err(|_| 11)?;
    Ok(())
}

#[entry]
fn main() -> ! {
    let top = addr_of!(_stack_start) as usize;
    let limit = addr_of!(_stack_end) as usize;
    let bottom = top.saturating_sub(PAINT_WINDOW).max(limit) & !3;
    let painted_end = cortex_m::register::msp::read() as usize - PAINT_MARGIN;
    let mut at = bottom;
    while at < painted_end {
        // SAFETY: `bottom..painted_end` is stack memory below the current stack pointer (and its
        // margin), above the end of the static data: nothing lives there yet.
        unsafe { (at as *mut u32).write_volatile(PAINT) };
        at += 4;
    }

    let segment = &raw mut SEGMENT;
    // SAFETY: the only reference ever made to SEGMENT.
    let bytes = unsafe { &mut *segment };
    let result = work(bytes);

    let mut lowest = bottom;
    // SAFETY: reads of the painted stack words, all below the current stack pointer.
    while lowest < painted_end && unsafe { (lowest as *const u32).read_volatile() } == PAINT {
        lowest += 4;
    }
    let peak = top - lowest;
    let code = match result {
        Ok(()) => u8::try_from(15 + peak.div_ceil(16)).unwrap_or(255),
        Err(step) => step,
    };
    exit(code)
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    exit(1)
}

#[exception]
unsafe fn HardFault(_: &ExceptionFrame) -> ! {
    exit(1)
}
