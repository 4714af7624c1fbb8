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
