//! Packing lines into datagrams: as many whole lines as fit, joined by `\n`, never a line cut
//! in two.

use std::ops::Range;

/// Lines skipped because a single one is longer than a datagram.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) lines: u64,
    pub(crate) bytes: u64,
}

/// Cuts `body` (lines each ending in `\n`) into payloads of at most `max` bytes and appends
/// their ranges to `out`: greedy, so every payload but the last is as full as whole lines
/// allow. Every line keeps its `\n`, as agents with `dogstatsd_eol_required` need (they drop
/// an unterminated last line); only a line of exactly `max` bytes goes without it, alone.
pub(crate) fn pack(body: &[u8], max: usize, out: &mut Vec<Range<usize>>) -> Skipped {
    let mut skipped = Skipped::default();
    let len = body.len();
    let mut start = 0;
    while start < len {
        if body[start] == b'\n' {
            start += 1;
            continue;
        }
        if len - start <= max {
            out.push(start..len);
            break;
        }
        match memchr::memrchr(b'\n', &body[start..start + max]) {
            Some(i) => {
                out.push(start..start + i + 1);
                start += i + 1;
            }
            // A line of exactly `max` bytes fits without its newline.
            None if body[start + max] == b'\n' => {
                out.push(start..start + max);
                start += max + 1;
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
    fn greedy_whole_terminated_lines() {
        let (p, s) = packed("aaa\nbbb\ncc\nd\n", 8);
        assert_eq!(p, ["aaa\nbbb\n", "cc\nd\n"]);
        assert_eq!(s, Skipped::default());
        // Exactly full; a body whose last line is not terminated keeps it as it is.
        assert_eq!(packed("aaa\nbbb\n", 8).0, ["aaa\nbbb\n"]);
        assert_eq!(packed("aaa\nbbb", 7).0, ["aaa\nbbb"]);
        assert_eq!(packed("aaa\nbbbb\n", 8).0, ["aaa\n", "bbbb\n"]);
        assert_eq!(packed("", 7).0, Vec::<&str>::new());
        // A line of exactly `max` bytes goes alone, without its newline; empty lines go nowhere.
        assert_eq!(packed("aaaa\n\nbb\n", 4).0, ["aaaa", "bb\n"]);
    }

    #[test]
    fn a_line_longer_than_a_datagram_is_skipped_and_counted() {
        let (p, s) = packed("aa\nbbbbbbbbbb\ncc\n", 5);
        assert_eq!(p, ["aa\n", "cc\n"]);
        assert_eq!(
            s,
            Skipped {
                lines: 1,
                bytes: 10
            }
        );
        let (p, s) = packed("aa\nbbbbbbbbbb", 5);
        assert_eq!(p, ["aa\n"]);
        assert_eq!(s.lines, 1);
    }

    #[test]
    fn every_line_once_in_order_terminated_and_no_payload_over_the_limit() {
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("metric.{i}:{}|c|#k:{}", i * 7, "v".repeat(i % 97)))
            .collect();
        let body = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        for max in [120, 1432, 8192] {
            let (p, s) = packed(&body, max);
            assert_eq!(s, Skipped::default());
            assert!(p.iter().all(|d| d.len() <= max && d.ends_with('\n')));
            let back: Vec<&str> = p
                .iter()
                .flat_map(|d| d.strip_suffix('\n').unwrap().split('\n'))
                .collect();
            assert_eq!(back, lines.iter().map(String::as_str).collect::<Vec<_>>());
            // Greedy: no two neighbours would have fit in one.
            for w in p.windows(2) {
                let next_first = w[1].split('\n').next().unwrap();
                assert!(w[0].len() + next_first.len() + 1 > max);
            }
        }
    }
}
