//! Appending many short byte strings to a `Vec<u8>` without a `memcpy` call for each.
//!
//! An exposition line is a handful of pieces of a few to a few dozen bytes. `extend_from_slice`
//! calls into the C library's `memcpy` for each; for pieces this short the call costs more than
//! the copy. The cursor reserves once per line and copies short pieces with overlapping word
//! moves.

/// Writes into the spare capacity of `out`; the written bytes become part of it on drop.
pub(crate) struct Cursor<'a> {
    out: &'a mut Vec<u8>,
    len: usize,
}

impl<'a> Cursor<'a> {
    /// Starts writing at the end of `out`, with room for about `expected` bytes.
    #[inline(always)]
    pub(crate) fn new(out: &'a mut Vec<u8>, expected: usize) -> Self {
        out.reserve(expected);
        let len = out.len();
        Cursor { out, len }
    }

    /// Appends `s`.
    #[inline(always)]
    pub(crate) fn put(&mut self, s: &[u8]) {
        if self.out.capacity() - self.len < s.len() {
            self.grow(s.len());
        }
        // SAFETY: the check above guarantees `s.len()` bytes of capacity after `self.len`, and
        // `copy_small` writes exactly the range `[len, len + s.len())`.
        unsafe { copy_small(self.out.as_mut_ptr().add(self.len), s) };
        self.len += s.len();
    }

    /// Appends `v` in decimal.
    #[inline(always)]
    pub(crate) fn put_u64(&mut self, v: u64) {
        self.put(itoa::Buffer::new().format(v).as_bytes());
    }

    /// Appends `v` in decimal.
    #[inline(always)]
    pub(crate) fn put_i64(&mut self, v: i64) {
        self.put(itoa::Buffer::new().format(v).as_bytes());
    }

    /// Makes room for `n` more bytes, so that the next puts totalling at most `n` bytes can
    /// use [`Cursor::put_reserved`].
    #[inline(always)]
    pub(crate) fn reserve(&mut self, n: usize) {
        if self.out.capacity() - self.len < n {
            self.grow(n);
        }
    }

    /// Appends `s` without checking capacity.
    ///
    /// # Safety
    ///
    /// A [`Cursor::reserve`] since the last check must have covered this and every other
    /// `put_reserved` in between.
    #[inline(always)]
    pub(crate) unsafe fn put_reserved(&mut self, s: &[u8]) {
        debug_assert!(
            self.out.capacity() - self.len >= s.len(),
            "reservation exceeded"
        );
        // SAFETY: the caller's reservation covers `s.len()` bytes after `len`.
        unsafe { copy_small(self.out.as_mut_ptr().add(self.len), s) };
        self.len += s.len();
    }

    /// Hands the vector back (with everything written so far) for writers that need it.
    pub(crate) fn vec(&mut self) -> &mut Vec<u8> {
        self.commit();
        self.out
    }

    /// Picks up after bytes were appended through [`Cursor::vec`].
    pub(crate) fn resync(&mut self) {
        self.len = self.out.len();
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, more: usize) {
        self.commit();
        // Grow geometrically: an encode reserves line by line.
        self.out.reserve(more.max(self.out.capacity() / 2).max(64));
    }

    #[inline(always)]
    fn commit(&mut self) {
        // SAFETY: every byte up to `len` was written by `put`, within capacity.
        unsafe { self.out.set_len(self.len) };
    }
}

impl Drop for Cursor<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.commit();
    }
}

/// Copies `src` to `dst` with at most two (overlapping) loads and stores per 16 bytes.
///
/// # Safety
///
/// `dst..dst + src.len()` must be writable and not overlap `src`.
#[inline(always)]
unsafe fn copy_small(dst: *mut u8, src: &[u8]) {
    use std::ptr::{read_unaligned as rd, write_unaligned as wr};
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: each branch reads and writes only inside the first `n` bytes of `src` / `dst`.
    unsafe {
        if n >= 16 {
            if n <= 32 {
                let (a, b) = (rd(s.cast::<u128>()), rd(s.add(n - 16).cast::<u128>()));
                wr(dst.cast::<u128>(), a);
                wr(dst.add(n - 16).cast::<u128>(), b);
            } else {
                std::ptr::copy_nonoverlapping(s, dst, n);
            }
        } else if n >= 8 {
            let (a, b) = (rd(s.cast::<u64>()), rd(s.add(n - 8).cast::<u64>()));
            wr(dst.cast::<u64>(), a);
            wr(dst.add(n - 8).cast::<u64>(), b);
        } else if n >= 4 {
            let (a, b) = (rd(s.cast::<u32>()), rd(s.add(n - 4).cast::<u32>()));
            wr(dst.cast::<u32>(), a);
            wr(dst.add(n - 4).cast::<u32>(), b);
        } else if n > 0 {
            let (a, m, z) = (*s, *s.add(n / 2), *s.add(n - 1));
            *dst = a;
            *dst.add(n / 2) = m;
            *dst.add(n - 1) = z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_length_exactly() {
        let source: Vec<u8> = (0..100u8).collect();
        for n in 0..100 {
            let mut out = b"head:".to_vec();
            {
                let mut c = Cursor::new(&mut out, 0);
                c.put(&source[..n]);
                c.put(b"|");
                c.put_u64(n as u64);
            }
            let mut want = b"head:".to_vec();
            want.extend_from_slice(&source[..n]);
            want.extend_from_slice(format!("|{n}").as_bytes());
            assert_eq!(out, want, "length {n}");
        }
    }

    #[test]
    fn grows_past_the_reservation() {
        let mut out = Vec::new();
        {
            let mut c = Cursor::new(&mut out, 1);
            for _ in 0..1000 {
                c.put(b"0123456789abcdefXYZ");
            }
            c.put_i64(-42);
        }
        assert_eq!(out.len(), 19_000 + 3);
        assert!(out.ends_with(b"XYZ-42"));
    }

    #[test]
    fn hands_the_vector_over_and_back() {
        let mut out = Vec::new();
        let mut c = Cursor::new(&mut out, 8);
        c.put(b"a");
        c.vec().extend_from_slice(b"bc");
        c.resync();
        c.put(b"d");
        drop(c);
        assert_eq!(out, b"abcd");
    }
}
