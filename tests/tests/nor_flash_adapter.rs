//! `walfs_core::nor_flash::NorFlashRegion` over a strict NOR-flash mock (bits only clear, a word
//! written at most once per erase, aligned accesses, erases counted): the same checks the QEMU
//! firmware runs on the emulated Cortex-M4 (`core/qemu`, `cargo test --release` there).

#[path = "../../core/qemu/src/nor_checks.rs"]
mod nor_checks;

#[test]
fn nor_flash_adapter_checks() {
    let mut failures = Vec::new();
    for (name, run) in nor_checks::CHECKS {
        if let Err(why) = run() {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "failed checks:\n{}",
        failures.join("\n")
    );
}
