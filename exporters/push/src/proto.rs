//! Protocol buffers, written straight into a reused buffer: the few primitives the push
//! encoders need (remote write's `WriteRequest`, the Pushgateway's `MetricFamily`, OTLP).
//!
//! Nested messages are written in place: [`begin`] writes the field's tag and reserves one
//! byte for the length, [`end`] patches it, moving the message right when the length needs
//! more than one byte. No message is built twice and nothing is allocated.
//!
//! ```
//! use aiplatform_push::proto;
//!
//! // message Label { string name = 1; string value = 2; } inside field 1 of the outer one.
//! let mut out = Vec::new();
//! let label = proto::begin(&mut out, 1);
//! proto::string(&mut out, 1, "job");
//! proto::string(&mut out, 2, "api");
//! proto::end(&mut out, label);
//! assert_eq!(out, b"\x0a\x0a\x0a\x03job\x12\x03api");
//! ```

/// Wire type of a varint field.
const VARINT: u32 = 0;
/// Wire type of a 64-bit fixed field.
const FIXED64: u32 = 1;
/// Wire type of a length-delimited field.
const LEN: u32 = 2;

/// Appends `v` as a base-128 varint.
#[inline]
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// How many bytes `v` takes as a varint.
#[inline]
pub fn varint_len(v: u64) -> usize {
    if v < 0x80 {
        1
    } else {
        (64 - v.leading_zeros() as usize).div_ceil(7)
    }
}

#[inline]
fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

/// A `string` field (written even when empty; proto3 readers treat both the same).
#[inline]
pub fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes(out, field, s.as_bytes());
}

/// A `bytes` field.
#[inline]
pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A `double` field.
#[inline]
pub fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `fixed64` field.
#[inline]
pub fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `uint64` (or `uint32`, enum, `bool`) field.
#[inline]
pub fn uint64(out: &mut Vec<u8>, field: u32, v: u64) {
    tag(out, field, VARINT);
    varint(out, v);
}

/// An `int64` field (negative values take ten bytes, as protobuf specifies).
#[inline]
pub fn int64(out: &mut Vec<u8>, field: u32, v: i64) {
    tag(out, field, VARINT);
    varint(out, v as u64);
}

/// Writes the header of a length-delimited field whose content is `len` bytes (write the
/// content next). For messages whose size is cheap to work out first: no length to patch.
#[inline]
pub fn header(out: &mut Vec<u8>, field: u32, len: usize) {
    tag(out, field, LEN);
    varint(out, len as u64);
}

/// Bytes a length-delimited field takes with `len` bytes of content (tag, length, content).
#[inline]
pub fn field_len(field: u32, len: usize) -> usize {
    varint_len(u64::from(field << 3)) + varint_len(len as u64) + len
}

/// Where a nested message's length goes; see [`begin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a nested message must be closed with proto::end"]
pub struct Nested {
    len_at: usize,
}

/// Starts a nested message (or any length-delimited field) in `field`.
#[inline]
pub fn begin(out: &mut Vec<u8>, field: u32) -> Nested {
    tag(out, field, LEN);
    out.push(0);
    Nested {
        len_at: out.len() - 1,
    }
}

/// Starts a length-delimited message with no tag (a varint length prefix only), as the
/// Pushgateway's delimited `MetricFamily` stream writes them.
#[inline]
pub fn begin_delimited(out: &mut Vec<u8>) -> Nested {
    out.push(0);
    Nested {
        len_at: out.len() - 1,
    }
}

/// Ends the nested message started at `n`: writes its length.
#[inline]
pub fn end(out: &mut Vec<u8>, n: Nested) {
    let start = n.len_at + 1;
    let len = out.len() - start;
    if len < 0x80 {
        out[n.len_at] = len as u8;
        return;
    }
    let extra = varint_len(len as u64) - 1;
    let old_end = out.len();
    out.resize(old_end + extra, 0);
    out.copy_within(start..old_end, start + extra);
    let mut v = len as u64;
    let mut i = n.len_at;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
}

/// Reads a varint at `*pos`, advancing it (for tests and for splitting delimited streams).
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for (v, want) in [
            (0u64, &[0u8][..]),
            (1, &[1]),
            (127, &[0x7f]),
            (128, &[0x80, 1]),
            (300, &[0xac, 2]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, want);
            assert_eq!(varint_len(v), want.len());
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
        let mut out = Vec::new();
        int64(&mut out, 1, -1);
        assert_eq!(out.len(), 11);
    }

    #[test]
    fn nested_lengths_of_every_size() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let mut out = vec![0xaa];
            let n = begin(&mut out, 3);
            out.extend(std::iter::repeat_n(7u8, len));
            end(&mut out, n);
            let mut pos = 2;
            assert_eq!(out[1], 3 << 3 | 2);
            assert_eq!(read_varint(&out, &mut pos), Some(len as u64));
            assert_eq!(out.len() - pos, len);
            assert!(out[pos..].iter().all(|&b| b == 7));
        }
    }

    #[test]
    fn headers_and_lengths_agree() {
        for len in [0usize, 5, 127, 128, 20_000] {
            let mut a = Vec::new();
            let n = begin(&mut a, 2);
            a.extend(std::iter::repeat_n(1u8, len));
            end(&mut a, n);
            let mut b = Vec::new();
            header(&mut b, 2, len);
            b.extend(std::iter::repeat_n(1u8, len));
            assert_eq!(a, b);
            assert_eq!(field_len(2, len), a.len());
        }
    }

    #[test]
    fn nested_inside_nested() {
        let mut out = Vec::new();
        let outer = begin(&mut out, 1);
        for _ in 0..20 {
            let inner = begin(&mut out, 2);
            string(&mut out, 1, "a-label-value-long-enough");
            end(&mut out, inner);
        }
        end(&mut out, outer);
        let mut pos = 1;
        let len = read_varint(&out, &mut pos).unwrap() as usize;
        assert_eq!(pos + len, out.len());
        let mut inner = pos;
        let mut seen = 0;
        while inner < out.len() {
            assert_eq!(out[inner], 2 << 3 | 2);
            inner += 1;
            let l = read_varint(&out, &mut inner).unwrap() as usize;
            inner += l;
            seen += 1;
        }
        assert_eq!(seen, 20);
    }
}
