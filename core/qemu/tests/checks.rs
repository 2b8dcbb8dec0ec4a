//! The firmware `cargo test --release` runs in QEMU: every check of `walfs_core_qemu`, reported
//! over semihosting as `check NAME ... ok`, then `N passed, M failed`. The exit status is 0 only
//! if every check passed; a panic, a `HardFault` or any other exception ends the run non-zero.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

use cortex_m::peripheral::SCB;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{hprint, hprintln};
use walfs_core_qemu::{checks, exit};

/// `CCR.DIV_0_TRP`: integer division by zero faults instead of giving 0.
const DIV_0_TRP: u32 = 1 << 4;

#[entry]
fn main() -> ! {
    // Unaligned LDRD, STRD, LDM, STM, VLDR and VSTR fault on ARMv7-M whatever CCR says (and QEMU
    // models it). UNALIGN_TRP, which would also trap the unaligned LDR and LDRH that the compiler
    // may emit on this target, stays off: core::fmt and walfs-core's from_le_bytes use them.
    // SAFETY: SCB::PTR is the address of the System Control Block, valid for the whole run.
    let scb = unsafe { &*SCB::PTR };
    // SAFETY: read-modify-write of the Configuration and Control Register before anything else
    // runs; it only adds a trap.
    unsafe { scb.ccr.modify(|ccr| ccr | DIV_0_TRP) };
    let (mut passed, mut failed) = (0u32, 0u32);
    for (name, run) in checks::all() {
        hprint!("check {name} ... ");
        match run() {
            Ok(()) => {
                hprintln!("ok");
                passed += 1;
            }
            Err(why) => {
                hprintln!("FAILED: {why}");
                failed += 1;
            }
        }
    }
    hprintln!("{passed} passed, {failed} failed");
    exit(u8::from(failed != 0))
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("\npanic: {info}");
    exit(101)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    // SAFETY: SCB::PTR is the address of the System Control Block, valid for the whole run.
    let scb = unsafe { &*SCB::PTR };
    let (cfsr, hfsr) = (scb.cfsr.read(), scb.hfsr.read());
    let (mmfar, bfar) = (scb.mmfar.read(), scb.bfar.read());
    hprintln!(
        "\nHardFault at pc {:#010x} (lr {:#010x}): CFSR {cfsr:#010x} HFSR {hfsr:#010x} \
         MMFAR {mmfar:#010x} BFAR {bfar:#010x}",
        frame.pc(),
        frame.lr()
    );
    exit(102)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    hprintln!("\nunexpected exception {irqn}");
    exit(103)
}
