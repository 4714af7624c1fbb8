//! `application/x-www-form-urlencoded` query strings, as Go's `url.ParseQuery` reads them.

/// Splits and decodes a query string; pairs keep their order. Malformed percent escapes are
/// kept literally (Go would drop the pair; keeping it is harmless for lookups).
pub(crate) fn parse(query: &str) -> Vec<(String, String)> {
    query
        .split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The values of `name`, in order.
pub(crate) fn values<'a>(
    pairs: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_like_go() {
        assert_eq!(
            parse("collect%5B%5D=cpu&collect[]=meminfo&target=db%3A5432&x=a+b&flag&=v"),
            vec![
                ("collect[]".to_owned(), "cpu".to_owned()),
                ("collect[]".to_owned(), "meminfo".to_owned()),
                ("target".to_owned(), "db:5432".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
                (String::new(), "v".to_owned()),
            ]
        );
        assert_eq!(parse(""), vec![]);
        assert_eq!(
            parse("a=%zz&b=%4"),
            vec![("a".into(), "%zz".into()), ("b".into(), "%4".into())]
        );
        assert_eq!(parse("u=%C3%A9"), vec![("u".into(), "é".into())]);
    }

    proptest! {
        #[test]
        fn never_panics(q in "\\PC{0,200}") {
            let _ = parse(&q);
        }

        #[test]
        fn encoded_values_round_trip(v in "\\PC{0,40}") {
            let enc: String = v.bytes().map(|b| format!("%{b:02X}")).collect();
            let pairs = parse(&format!("k={enc}"));
            prop_assert_eq!(pairs, vec![("k".to_owned(), v)]);
        }
    }
}
