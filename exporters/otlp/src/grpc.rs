//! OTLP/gRPC without a gRPC framework: a unary `Export` call is one HTTP/2 POST of a
//! length-prefixed message, answered by a length-prefixed message and a `grpc-status`
//! trailer. That is all OTLP needs, so it rides on the push pipeline's hyper client
//! ([`HttpClient::new_http2`](aiplatform_push::HttpClient::new_http2)) instead of a second
//! HTTP stack.
//!
//! Response rules (OTLP specification, "OTLP/gRPC Response"):
//!
//! | status | outcome |
//! |---|---|
//! | `OK` | delivered; a partial success counts its rejected items as dropped |
//! | `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS` | retried, after the server's `RetryInfo` delay if it sent one |
//! | `RESOURCE_EXHAUSTED` | retried only with a `RetryInfo`; "message larger than max" is too large (the batch is halved); otherwise dropped |
//! | anything else | dropped, not retried |
//!
//! An HTTP status other than 200 (a proxy in the way) maps as gRPC clients map it: 429, 502,
//! 503 and 504 are `UNAVAILABLE` (retried), 413 is too large, anything else is dropped.

use std::time::Duration;

use aiplatform_push::{Failure, Outcome, Secret, Trailers, retry_after, scrub};
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};

use crate::config::percent_decode;
use crate::wire;

/// gRPC status codes used here.
mod code {
    pub(super) const OK: i32 = 0;
    pub(super) const CANCELLED: i32 = 1;
    pub(super) const DEADLINE_EXCEEDED: i32 = 4;
    pub(super) const RESOURCE_EXHAUSTED: i32 = 8;
    pub(super) const ABORTED: i32 = 10;
    pub(super) const OUT_OF_RANGE: i32 = 11;
    pub(super) const UNAVAILABLE: i32 = 14;
    pub(super) const DATA_LOSS: i32 = 15;
}

/// gRPC status names, by code.
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The HTTP status a gRPC code corresponds to (`google.rpc.Code`), for the failure labels of
/// the self-metrics.
fn http_equivalent(code: i32) -> u16 {
    match code {
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// Puts the 5-byte gRPC prefix (compressed flag, big-endian length) before `message`.
pub(crate) fn frame(message: &[u8], compressed: bool) -> Bytes {
    let mut out = BytesMut::with_capacity(message.len() + 5);
    out.put_u8(u8::from(compressed));
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.freeze()
}

/// The first message of a response body (uncompressed: requests do not offer compression
/// for responses).
pub(crate) fn unframe(body: &[u8]) -> Option<&[u8]> {
    let (&flag, rest) = body.split_first()?;
    if flag != 0 {
        return None;
    }
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    rest.get(4..4 + len)
}

/// The status a response carries: in the trailers, or in the headers of a trailers-only
/// response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) code: i32,
    pub(crate) message: String,
    pub(crate) retry_delay: Option<Duration>,
}

pub(crate) fn status(response: &Response<Bytes>) -> Option<Status> {
    let from = |h: &HeaderMap| -> Option<Status> {
        let code = h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
        let message = h
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .and_then(percent_decode)
            .unwrap_or_default();
        let retry_delay = h
            .get("grpc-status-details-bin")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(v.trim_end_matches('='))
                    .ok()
            })
            .and_then(|b| wire::rpc_status(&b))
            .and_then(|s| s.retry_delay);
        Some(Status {
            code,
            message,
            retry_delay,
        })
    };
    response
        .extensions()
        .get::<Trailers>()
        .and_then(|t| from(&t.0))
        .or_else(|| from(response.headers()))
}

/// Reads an OTLP/gRPC response.
pub(crate) fn classify(response: &Response<Bytes>, secrets: &[Secret]) -> Outcome {
    let http = response.status();
    if http != StatusCode::OK {
        let detail = format!("HTTP {} from a gRPC endpoint", http.as_u16());
        return match http.as_u16() {
            413 => Outcome::TooLarge { detail },
            429 | 502 | 503 | 504 => Outcome::Retry {
                failure: Failure::Status(http.as_u16()),
                after: retry_after(response.headers(), std::time::SystemTime::now()),
                detail,
            },
            s => Outcome::Rejected {
                failure: Failure::Status(s),
                detail,
            },
        };
    }
    let Some(st) = status(response) else {
        return Outcome::Retry {
            failure: Failure::Io,
            after: None,
            detail: "gRPC response without grpc-status".into(),
        };
    };
    let name = NAMES.get(st.code as usize).copied().unwrap_or("UNKNOWN");
    let detail = scrub(&format!("gRPC {name}: {}", st.message), secrets);
    let failure = Failure::Status(http_equivalent(st.code));
    match st.code {
        code::OK => match unframe(response.body()).and_then(wire::partial_success) {
            Some(ps) => Outcome::PartlyDelivered {
                rejected: ps.rejected,
                detail: scrub(&format!("partial success: {}", ps.message), secrets),
            },
            None => Outcome::Delivered,
        },
        code::CANCELLED
        | code::DEADLINE_EXCEEDED
        | code::ABORTED
        | code::OUT_OF_RANGE
        | code::UNAVAILABLE
        | code::DATA_LOSS => Outcome::Retry {
            failure,
            after: st.retry_delay,
            detail,
        },
        code::RESOURCE_EXHAUSTED if st.retry_delay.is_some() => Outcome::Retry {
            failure,
            after: st.retry_delay,
            detail,
        },
        code::RESOURCE_EXHAUSTED
            if st.message.contains("larger than max") || st.message.contains("too large") =>
        {
            Outcome::TooLarge { detail }
        }
        _ => Outcome::Rejected { failure, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiplatform_push::proto;

    fn response(http: u16, trailers: &[(&str, &str)], body: Bytes) -> Response<Bytes> {
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(http).unwrap();
        let mut t = HeaderMap::new();
        for (k, v) in trailers {
            t.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        r.extensions_mut().insert(Trailers(t));
        r
    }

    #[test]
    fn frames_round_trip() {
        let f = frame(b"hello", false);
        assert_eq!(&f[..5], &[0, 0, 0, 0, 5]);
        assert_eq!(unframe(&f), Some(&b"hello"[..]));
        assert_eq!(frame(b"x", true)[0], 1);
        assert_eq!(unframe(b"\x00\x00\x00"), None);
    }

    #[test]
    fn status_codes_follow_the_otlp_rules() {
        let ok = response(200, &[("grpc-status", "0")], frame(b"", false));
        assert_eq!(classify(&ok, &[]), Outcome::Delivered);
        for c in [1, 4, 10, 11, 14, 15] {
            let r = response(200, &[("grpc-status", &c.to_string())], Bytes::new());
            assert!(matches!(classify(&r, &[]), Outcome::Retry { .. }), "{c}");
        }
        for c in [2, 3, 5, 6, 7, 9, 12, 13, 16] {
            let r = response(200, &[("grpc-status", &c.to_string())], Bytes::new());
            assert!(matches!(classify(&r, &[]), Outcome::Rejected { .. }), "{c}");
        }
        let quota = response(
            200,
            &[("grpc-status", "8"), ("grpc-message", "quota")],
            Bytes::new(),
        );
        assert!(matches!(classify(&quota, &[]), Outcome::Rejected { .. }));
        let big = response(
            200,
            &[
                ("grpc-status", "8"),
                (
                    "grpc-message",
                    "grpc: received message larger than max (5 vs. 4)",
                ),
            ],
            Bytes::new(),
        );
        assert!(matches!(classify(&big, &[]), Outcome::TooLarge { .. }));
        for (http, retried) in [(503, true), (429, true), (404, false), (500, false)] {
            let r = response(http, &[], Bytes::new());
            assert_eq!(
                matches!(classify(&r, &[]), Outcome::Retry { .. }),
                retried,
                "{http}"
            );
        }
    }

    #[test]
    fn retry_info_sets_the_delay_and_messages_are_decoded_and_scrubbed() {
        let mut dur = Vec::new();
        proto::int64(&mut dur, 1, 3);
        let mut info = Vec::new();
        proto::bytes(&mut info, 1, &dur);
        let mut any = Vec::new();
        proto::string(&mut any, 1, "type.googleapis.com/google.rpc.RetryInfo");
        proto::bytes(&mut any, 2, &info);
        let mut st = Vec::new();
        proto::int64(&mut st, 1, 8);
        proto::bytes(&mut st, 3, &any);
        let details = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&st);
        let r = response(
            200,
            &[
                ("grpc-status", "8"),
                ("grpc-message", "slow%20down%2C%20key%20s3cr3t"),
                ("grpc-status-details-bin", &details),
            ],
            Bytes::new(),
        );
        match classify(&r, &[Secret::new("s3cr3t")]) {
            Outcome::Retry { after, detail, .. } => {
                assert_eq!(after, Some(Duration::from_secs(3)));
                assert_eq!(detail, "gRPC RESOURCE_EXHAUSTED: slow down, key [redacted]");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn partial_success_is_read_from_the_response_message() {
        let mut ps = Vec::new();
        proto::int64(&mut ps, 1, 2);
        proto::string(&mut ps, 2, "bad points");
        let mut msg = Vec::new();
        proto::bytes(&mut msg, 1, &ps);
        let r = response(200, &[("grpc-status", "0")], frame(&msg, false));
        assert_eq!(
            classify(&r, &[]),
            Outcome::PartlyDelivered {
                rejected: 2,
                detail: "partial success: bad points".into()
            }
        );
    }
}
