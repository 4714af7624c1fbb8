//! RESP2, the Redis protocol: command encoding and an incremental reply parser.
//!
//! The parser is bounded (bulk length, array length, nesting depth) so a hostile or broken
//! server cannot make the exporter allocate without limit or recurse without end.

use std::fmt;

/// The largest bulk string accepted (INFO and CONFIG replies are a few KiB).
pub const MAX_BULK: usize = 64 << 20;
/// The most elements an array may declare.
pub const MAX_ARRAY: usize = 1 << 20;
/// The deepest nesting accepted (SLOWLOG GET replies are three deep).
pub const MAX_DEPTH: usize = 8;

/// One reply.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$n` bulk string; `None` for the null bulk `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n`; `None` for the null array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(i) => write!(f, ":{i}"),
            Reply::Bulk(None) => f.write_str("$nil"),
            Reply::Bulk(Some(b)) => write!(f, "${:?}", String::from_utf8_lossy(b)),
            Reply::Array(None) => f.write_str("*nil"),
            Reply::Array(Some(v)) => f.debug_list().entries(v).finish(),
        }
    }
}

impl Reply {
    /// The text of a bulk or simple string (lossy UTF-8).
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b)),
            Reply::Simple(s) => Some(std::borrow::Cow::Borrowed(s)),
            _ => None,
        }
    }

    /// An integer, or a string holding one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            other => other.as_text()?.trim().parse().ok(),
        }
    }

    /// The elements of a non-null array.
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(Some(v)) => Some(v),
            _ => None,
        }
    }

    /// The server's error message, if this is an error reply.
    pub fn error(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// A reply the parser refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An unknown type byte.
    #[error("unexpected RESP type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A length or integer that does not parse.
    #[error("malformed RESP length or integer")]
    BadNumber,
    /// A bulk string not followed by CRLF.
    #[error("bulk string not terminated by CRLF")]
    BadTerminator,
    /// A bulk string or array larger than the limits.
    #[error("RESP reply exceeds size limits")]
    TooLarge,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("RESP reply nested too deep")]
    TooDeep,
}

/// Appends one command (an array of bulk strings) to `out`.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply from the start of `buf`: `Ok(Some((reply, bytes used)))`, `Ok(None)` if
/// `buf` holds only part of a reply.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(r) => Ok(Some((r, pos))),
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos += end + 2;
    Some(&rest[..end])
}

fn number(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProtocolError::BadNumber)
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Reply>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::TooDeep);
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    let start = *pos;
    *pos += 1;
    let Some(head) = line(buf, pos) else {
        *pos = start;
        return Ok(None);
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let reply = match kind {
        b'+' => Reply::Simple(text(head)),
        b'-' => Reply::Error(text(head)),
        b':' => Reply::Int(number(head)?),
        b'$' => {
            let n = number(head)?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let n = usize::try_from(n).map_err(|_| ProtocolError::TooLarge)?;
                if n > MAX_BULK {
                    return Err(ProtocolError::TooLarge);
                }
                if buf.len() < *pos + n + 2 {
                    *pos = start;
                    return Ok(None);
                }
                if &buf[*pos + n..*pos + n + 2] != b"\r\n" {
                    return Err(ProtocolError::BadTerminator);
                }
                let data = buf[*pos..*pos + n].to_vec();
                *pos += n + 2;
                Reply::Bulk(Some(data))
            }
        }
        b'*' => {
            let n = number(head)?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let n = usize::try_from(n).map_err(|_| ProtocolError::TooLarge)?;
                if n > MAX_ARRAY {
                    return Err(ProtocolError::TooLarge);
                }
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    match parse_at(buf, pos, depth + 1)? {
                        Some(r) => items.push(r),
                        None => {
                            *pos = start;
                            return Ok(None);
                        }
                    }
                }
                Reply::Array(Some(items))
            }
        }
        other => return Err(ProtocolError::UnknownType(other)),
    };
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&["CONFIG", "GET", "*"], &mut out);
        assert_eq!(out, b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$1\r\n*\r\n");
    }

    #[test]
    fn parses_every_type_and_partial_input() {
        let wire = b"*5\r\n+OK\r\n-ERR no\r\n:7\r\n$3\r\na\r\n\r\n*-1\r\n$-1\r\n";
        let (r, used) = parse(wire).unwrap().unwrap();
        assert_eq!(used, wire.len() - 5);
        let items = r.as_array().unwrap();
        assert_eq!(items[0], Reply::Simple("OK".into()));
        assert_eq!(items[1].error(), Some("ERR no"));
        assert_eq!(items[2].as_int(), Some(7));
        assert_eq!(items[3].as_text().unwrap(), "a\r\n");
        assert_eq!(items[4], Reply::Array(None));
        assert_eq!(parse(&wire[used..]).unwrap().unwrap().0, Reply::Bulk(None));
        for cut in 0..used {
            assert_eq!(parse(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn refuses_hostile_replies() {
        assert_eq!(parse(b"$99999999999\r\n"), Err(ProtocolError::TooLarge));
        assert_eq!(parse(b"*99999999999\r\n"), Err(ProtocolError::TooLarge));
        assert_eq!(parse(b"$1\r\nab\r\n"), Err(ProtocolError::BadTerminator));
        assert_eq!(parse(b"?x\r\n"), Err(ProtocolError::UnknownType(b'?')));
        assert_eq!(parse(b":x\r\n"), Err(ProtocolError::BadNumber));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2) + ":1\r\n";
        assert_eq!(parse(deep.as_bytes()), Err(ProtocolError::TooDeep));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
        }
    }
}
