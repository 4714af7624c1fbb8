//! Asymmetric memory barriers: a nearly free one for readers, an expensive one for reclaimers.
//!
//! A reader section publishes "I am reading" with a plain store and must have that store
//! visible before it loads shared pointers (store→load ordering). A `SeqCst` fence gives that at
//! about 2 ns per section. On Linux, `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` lets the
//! rare side (a reclaimer, about 0.3 µs per call) force a full barrier on every running thread
//! of the process instead, so the reader only needs a compiler fence. Where membarrier is
//! unavailable both sides fall back to `SeqCst` fences.

#[cfg(all(target_os = "linux", not(loom)))]
mod imp {
    use std::sync::atomic::{AtomicU8, Ordering, compiler_fence, fence};

    const UNKNOWN: u8 = 0;
    const EXPEDITED: u8 = 1;
    const FALLBACK: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier takes (cmd, flags, cpu_id) integers and touches no user memory.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    fn state() -> u8 {
        match STATE.load(Ordering::Acquire) {
            UNKNOWN => {
                let mask = membarrier(CMD_QUERY);
                let wanted = CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED;
                let ok = mask >= 0
                    && mask & wanted == wanted
                    && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
                let s = if ok { EXPEDITED } else { FALLBACK };
                STATE.store(s, Ordering::Release);
                s
            }
            s => s,
        }
    }

    /// Reader side: orders the reader's earlier stores before its later loads, provided every
    /// reclaimer calls [`heavy`] between unlinking and inspecting reader states.
    #[inline(always)]
    pub(crate) fn light() {
        // Before registration succeeded a reader cannot rely on the reclaimer's membarrier.
        if STATE.load(Ordering::Relaxed) == EXPEDITED {
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// Reclaimer side: after it returns, every reader's stores before its [`light`] are visible,
    /// or that reader's loads after it observe what was written before this call.
    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
        if state() == EXPEDITED && membarrier(CMD_PRIVATE_EXPEDITED) != 0 {
            // Registration cannot be undone, so a failure here means the kernel refused the
            // call for a reason we cannot recover from; readers are unprotected.
            panic!("membarrier(PRIVATE_EXPEDITED) failed after successful registration");
        }
        fence(Ordering::SeqCst);
    }
}

#[cfg(not(all(target_os = "linux", not(loom))))]
mod imp {
    use crate::sync::{Ordering, fence};

    #[inline(always)]
    pub(crate) fn light() {
        fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
    }
}

pub(crate) use imp::{heavy, light};
