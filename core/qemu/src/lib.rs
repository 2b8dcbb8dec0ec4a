//! walfs-core on an emulated Cortex-M4 (QEMU `mps2-an386`): the checks the `checks` firmware runs
//! (`cargo test --release` in this folder), and what the `footprint` firmware shares with it.
//!
//! A check is a function that returns `Err("file:line: what failed")` instead of panicking, so
//! one failure does not hide the others; the firmware prints `check NAME ... ok` for each over
//! semihosting and ends with `N passed, M failed`.
#![no_std]

// Before the macros: `nor_checks` includes its own copy (the host compiles it alone).
pub mod nor_checks;

include!("check_macros.rs");

pub mod checks;

/// A check's result: `Err` says where and what failed.
pub type Outcome = Result<(), &'static str>;

/// Ends the QEMU run with exit status `code`, over semihosting (`SYS_EXIT_EXTENDED` with
/// `ADP_Stopped_ApplicationExit`, which QEMU turns into its own exit status).
pub fn exit(code: u8) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x2_0026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, usize::from(code)];
    // SAFETY: a semihosting call with a valid parameter block. QEMU runs with semihosting
    // enabled (.cargo/config.toml, scripts/footprint.sh); without a debugger attached the BKPT
    // would fault, and the fault handlers end in this same call, so nothing else can run.
    unsafe {
        cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block);
    }
    loop {
        cortex_m::asm::wfi();
    }
}
