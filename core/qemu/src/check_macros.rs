// `ensure!`, `fail!` and `ok!`: how a check reports a failure as a value (`file:line: what`)
// instead of panicking. Included by `lib.rs` (the firmware's checks) and by `nor_checks.rs`,
// which the host also compiles on its own (`tests/tests/nor_flash_adapter.rs`).

/// Fails the check with the location and `$what` unless `$cond` holds.
macro_rules! ensure {
    ($cond:expr, $what:literal) => {
        if !$cond {
            return Err(concat!(file!(), ":", line!(), ": ", $what));
        }
    };
}

/// Fails the check with the location and `$what`.
macro_rules! fail {
    ($what:literal) => {
        return Err(concat!(file!(), ":", line!(), ": ", $what))
    };
}

/// Unwraps a result, failing the check with the location and `$what` on `Err`.
macro_rules! ok {
    ($result:expr, $what:literal) => {
        match $result {
            Ok(value) => value,
            Err(_) => return Err(concat!(file!(), ":", line!(), ": ", $what)),
        }
    };
}
