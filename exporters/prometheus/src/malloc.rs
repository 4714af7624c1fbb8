//! glibc's allocator, tuned for an exporter process.

/// Gives glibc's allocator one arena for the whole process.
///
/// glibc gives every thread that allocates its own arena (64 MiB of address space, and what it
/// touches stays resident). An exporter's threads allocate little and briefly, so one arena
/// serves them all without contention worth measuring, and the resident memory stays that of
/// one arena. Call it first thing in `main`, before any other thread exists. It does nothing
/// where glibc is not the C library, and costs nothing when another global allocator (the
/// Redis exporter uses mimalloc) serves Rust's allocations.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; the caller runs it before other threads
    // exist, so no allocation races with the change.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands the C allocator's free memory back to the system (glibc's `malloc_trim`).
///
/// glibc returns freed memory at the top of its heap by itself, but keeps free pages below
/// a live allocation for ever: after a burst of large allocations (a big scrape, many
/// requests at once) the resident size stays at the burst's peak. `malloc_trim` releases
/// every whole free page. It walks the heap, a few microseconds for an exporter's; call it
/// once a burst is over, not per request (the scrape server calls it after scrapes larger
/// than 1 MiB). It does nothing where glibc is not the C library
/// and does not touch memory another global allocator (mimalloc) manages.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes mimalloc return freed memory to the system at once instead of after its purge delay
/// (feature `mimalloc`, for binaries whose global allocator is mimalloc).
///
/// mimalloc purges a thread's freed pages only when that thread allocates again after the
/// delay. An exporter's scrape runs on blocking-pool threads that then sit idle, so after a
/// burst of large scrapes their pages stayed resident: the node exporter (then on mimalloc)
/// went from 21 to 35 MiB and stayed there. With no delay it returned to within 5 MiB of its
/// baseline; the cost is a `madvise` call per freed page run, paid on the scrape's own thread.
#[cfg(feature = "mimalloc")]
pub fn release_memory_promptly() {
    // `mi_option_purge_delay` in mimalloc 2's `mi_option_e` (the bindings do not name it).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: mi_option_set only changes a tuning option; purge_delay is read at each purge.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}
