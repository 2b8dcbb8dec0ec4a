//! The sync facade: std's `Arc`, `Mutex`, `Condvar` and atomics, or loom's under `cfg(loom)`, so
//! the same code runs in production and in loom's model checker (tokio's pattern). Every other
//! module takes its sync types from here; clippy's `disallowed-types` enforces it.
#![allow(
    clippy::disallowed_types,
    reason = "the one place that names the std sync types"
)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// A value set once: std's under loom too. loom has no `OnceLock`, and what it guards (the lazy
/// mapping of a segment file, see `mmap`) is set once and never changed, no protocol to model.
pub(crate) use std::sync::OnceLock;

/// A process-wide counter for `static`s (loom's atomics cannot be built in a `static`, and a
/// counter that only makes names unique is no protocol for loom to check).
pub(crate) type StaticCounter = std::sync::atomic::AtomicU64;

/// Takes a read lock, recovering the data if a holder panicked.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes a write lock, recovering the data if a holder panicked.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Locks a mutex, recovering the data if a holder panicked (the state it protects is kept
/// consistent by the engine, which poisons itself on I/O failure, not by unwinding).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on a condition variable, recovering the guard if a holder panicked.
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar
        .wait(guard)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on a condition variable for at most `timeout`.
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}
