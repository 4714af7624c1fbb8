//! Packing lines into datagrams: as many whole lines as fit, joined by `\n`, never a line cut
//! in two.

use std::ops::Range;

/// Lines skipped because a single one is longer than a datagram.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) lines: u64,
    pub(crate) bytes: u64,
}

/// Cuts `body` (lines separated by `\n`) into payloads of at most `max` bytes and appends
/// their ranges to `out`: greedy, so every payload but the last is as full as whole lines
/// allow. The `\n` at a cut belongs to neither payload; a trailing one is left out.
pub(crate) fn pack(body: &[u8], max: usize, out: &mut Vec<Range<usize>>) -> Skipped {
    let mut skipped = Skipped::default();
    let len = body.len();
    let mut start = 0;
    while start < len {
        let rest = if body[len - 1] == b'\n' {
            len - 1 - start
        } else {
            len - start
        };
        if rest <= max {
            if rest > 0 {
                out.push(start..start + rest);
            }
            break;
        }
        // A newline at offset `max` still closes a payload of exactly `max` bytes.
        let window = &body[start..(start + max + 1).min(len)];
        match memchr::memrchr(b'\n', window) {
            Some(0) => start += 1,
            Some(i) => {
                out.push(start..start + i);
                start += i + 1;
            }
            None => {
                // One line longer than a payload: it cannot be sent.
                let end =
                    memchr::memchr(b'\n', &body[start + max..]).map_or(len, |i| start + max + i);
                skipped.lines += 1;
                skipped.bytes += (end - start) as u64;
                start = end + 1;
            }
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(body: &str, max: usize) -> (Vec<&str>, Skipped) {
        let mut ranges = Vec::new();
        let skipped = pack(body.as_bytes(), max, &mut ranges);
        (ranges.into_iter().map(|r| &body[r]).collect(), skipped)
    }

    #[test]
    fn greedy_whole_lines() {
        let (p, s) = packed("aaa\nbbb\ncc\nd\n", 7);
        assert_eq!(p, ["aaa\nbbb", "cc\nd"]);
        assert_eq!(s, Skipped::default());
        // Exactly full, with and without a trailing newline.
        assert_eq!(packed("aaa\nbbb\n", 7).0, ["aaa\nbbb"]);
        assert_eq!(packed("aaa\nbbb", 7).0, ["aaa\nbbb"]);
        assert_eq!(packed("aaa\nbbbb\n", 7).0, ["aaa", "bbbb"]);
        assert_eq!(packed("", 7).0, Vec::<&str>::new());
    }

    #[test]
    fn a_line_longer_than_a_datagram_is_skipped_and_counted() {
        let (p, s) = packed("aa\nbbbbbbbbbb\ncc\n", 5);
        assert_eq!(p, ["aa", "cc"]);
        assert_eq!(
            s,
            Skipped {
                lines: 1,
                bytes: 10
            }
        );
        let (p, s) = packed("aa\nbbbbbbbbbb", 5);
        assert_eq!(p, ["aa"]);
        assert_eq!(s.lines, 1);
    }

    #[test]
    fn every_line_once_in_order_and_no_payload_over_the_limit() {
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("metric.{i}:{}|c|#k:{}", i * 7, "v".repeat(i % 97)))
            .collect();
        let body = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        for max in [120, 1432, 8192] {
            let (p, s) = packed(&body, max);
            assert_eq!(s, Skipped::default());
            assert!(p.iter().all(|d| d.len() <= max && !d.is_empty()));
            let back: Vec<&str> = p.iter().flat_map(|d| d.split('\n')).collect();
            assert_eq!(back, lines.iter().map(String::as_str).collect::<Vec<_>>());
            // Greedy: no two neighbours would have fit in one.
            for w in p.windows(2) {
                let next_first = w[1].split('\n').next().unwrap();
                assert!(w[0].len() + 1 + next_first.len() > max);
            }
        }
    }
}
