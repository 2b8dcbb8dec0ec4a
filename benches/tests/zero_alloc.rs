//! The hot paths allocate nothing per record in steady state: `Wal::append`, `Wal::read` and
//! `Reader::next`, counted by a global allocator over 10,000 operations inside one segment
//! after a warm-up (10,000 so that a table growing by doubling would show: it would cross at
//! least three powers of two).
//!
//! Counting is per thread (the operations run on the calling thread and walfs starts no thread
//! for them), so tests running in parallel do not disturb each other. Every `alloc`,
//! `alloc_zeroed` and `realloc` counts. The first allocation inside a counted window is
//! recorded with its backtrace, for the failure message.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::hint::black_box;

use walfs::{Options, Wal};
use walfs_benches::{KIB, SEGMENT_SIZE, bench_dir, payload};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    static FIRST: RefCell<Option<String>> = const { RefCell::new(None) };
}

impl Counting {
    fn note(size: usize) {
        // `try_with`: thread-local storage may be gone while a thread exits.
        let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
        if !counting || IN_HOOK.try_with(Cell::get).unwrap_or(true) {
            return;
        }
        COUNT.with(|count| count.set(count.get() + 1));
        IN_HOOK.with(|hook| hook.set(true));
        FIRST.with(|first| {
            if let Ok(mut first) = first.try_borrow_mut()
                && first.is_none()
            {
                let trace = std::backtrace::Backtrace::force_capture();
                *first = Some(format!("allocation of {size} bytes at:\n{trace}"));
            }
        });
        IN_HOOK.with(|hook| hook.set(false));
    }
}

#[expect(unsafe_code, reason = "a global allocator is an unsafe trait")]
// SAFETY: every method forwards to the system allocator with the caller's arguments; counting
// touches only const-initialized thread-locals, and the backtrace is taken with the hook flag
// set, so its own allocations are neither counted nor recursed into.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: the caller's contract of `GlobalAlloc::alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: the caller's contract of `GlobalAlloc::alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note(new_size);
        // SAFETY: the caller's contract of `GlobalAlloc::realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract of `GlobalAlloc::dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Operations counted; all of them stay inside the first 16 MiB segment.
const OPS: usize = 10_000;
/// Operations run before counting starts.
const WARM_UP: usize = 1_000;

/// Allocations `f` makes on this thread, and the first one's backtrace.
fn allocations(f: impl FnOnce()) -> (u64, Option<String>) {
    FIRST.with(|first| *first.borrow_mut() = None);
    COUNT.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    f();
    COUNTING.with(|counting| counting.set(false));
    (
        COUNT.with(Cell::get),
        FIRST.with(|first| first.borrow_mut().take()),
    )
}

fn assert_none(what: &str, (count, first): (u64, Option<String>)) {
    assert!(
        count == 0,
        "{what}: {count} allocations over {OPS} operations; the first: {}",
        first.unwrap_or_default()
    );
}

fn open() -> (tempfile::TempDir, Wal) {
    let dir = bench_dir();
    let wal = Wal::open(dir.path(), Options::new().segment_size(SEGMENT_SIZE)).expect("open");
    (dir, wal)
}

#[test]
#[cfg_attr(miri, ignore)]
fn append_allocates_nothing_per_record() {
    let (_dir, wal) = open();
    let record = payload(KIB);
    for _ in 0..WARM_UP {
        wal.append(&record).expect("append");
    }
    let counted = allocations(|| {
        for _ in 0..OPS {
            black_box(wal.append(black_box(&record)).expect("append"));
        }
    });
    assert_eq!(
        wal.rotation_count(),
        0,
        "the counted appends stay in one segment"
    );
    assert_none("Wal::append", counted);
}

#[test]
#[cfg_attr(miri, ignore)]
fn direct_read_allocates_nothing_per_record() {
    let (_dir, wal) = open();
    let record = payload(KIB);
    let positions: Vec<_> = (0..OPS)
        .map(|_| wal.append(&record).expect("append"))
        .collect();
    for &position in positions.iter().take(WARM_UP) {
        black_box(&*wal.read(position).expect("read"));
    }
    let counted = allocations(|| {
        for &position in &positions {
            let view = wal.read(black_box(position)).expect("read");
            black_box(&*view);
        }
    });
    assert_none("Wal::read", counted);
}

#[test]
#[cfg_attr(miri, ignore)]
fn sequential_read_allocates_nothing_per_record() {
    let (_dir, wal) = open();
    let record = payload(KIB);
    for _ in 0..WARM_UP + OPS {
        wal.append(&record).expect("append");
    }
    let mut reader = wal.reader();
    for _ in 0..WARM_UP {
        black_box(reader.next().expect("next").expect("a record").payload());
    }
    let counted = allocations(|| {
        for _ in 0..OPS {
            let record = reader.next().expect("next").expect("a record");
            black_box(record.payload());
        }
    });
    assert_none("Reader::next", counted);
}

#[test]
fn the_counter_sees_an_allocation() {
    let (count, first) = allocations(|| {
        black_box(vec![0u8; black_box(100)]);
    });
    assert_eq!(count, 1);
    assert!(first.is_some_and(|trace| trace.contains("100 bytes")));
}
