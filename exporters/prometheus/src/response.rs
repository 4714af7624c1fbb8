//! Responses: scrape bodies with negotiated format and compression, and the small fixed
//! answers (404, 401, 503, ...) with the bodies Go's `net/http` writes.

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;

/// The body type of every response this crate sends.
pub type Body = Full<Bytes>;

/// A response, ready to send.
pub type Response = http::Response<Body>;

/// Whether `Accept-Encoding` allows gzip: `gzip` (or `x-gzip`) with q > 0, or else `*` with
/// q > 0. An explicit `gzip;q=0` refuses it even when `*` is accepted.
///
/// ```
/// use aiplatform_prometheus::accepts_gzip;
/// assert!(accepts_gzip(Some("gzip")));
/// assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
/// assert!(!accepts_gzip(Some("gzip;q=0, *")));
/// assert!(accepts_gzip(Some("*")));
/// assert!(!accepts_gzip(Some("identity")));
/// assert!(!accepts_gzip(None));
/// ```
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|q: &f32| (0.0..=1.0).contains(q))
                    .unwrap_or(0.0);
            }
        }
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// Compresses `body` with gzip at the fast level (exposition text compresses about tenfold
/// at level 1; higher levels cost CPU on every scrape for a few percent).
pub(crate) fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 8 + 64), Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

/// A scrape response: the exposition with its exact `Content-Type`, gzipped if `gzipped`.
pub(crate) fn exposition(content_type: &'static str, body: Vec<u8>, gzipped: bool) -> Response {
    let mut r = http::Response::new(Full::new(Bytes::from(body)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

/// A plain-text response as Go's `http.Error` writes it (`nosniff`, UTF-8 text).
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut r = http::Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// An HTML page.
pub(crate) fn html(body: impl Into<Bytes>) -> Response {
    let mut r = http::Response::new(Full::new(body.into()));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// Go's `http.NotFound`.
pub(crate) fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

/// The toolkit's refusal: 401 with `WWW-Authenticate: Basic`.
pub(crate) fn unauthorized() -> Response {
    let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    r.headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("Basic"));
    r
}

/// A bare status with Go's status text as the body (`http.StatusText` + newline).
pub(crate) fn status(code: StatusCode) -> Response {
    let reason = code.canonical_reason().unwrap_or("");
    text(code, format!("{reason}\n"))
}

/// The request's header as text, if present and valid.
pub(crate) fn header_str(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn gzip_negotiation() {
        let yes = [
            "gzip",
            "GZIP",
            "x-gzip",
            "gzip, deflate, br",
            "br;q=1.0, gzip;q=0.8, *;q=0.1",
            "*",
            "identity, *;q=0.5",
        ];
        let no = [
            "",
            "identity",
            "br",
            "gzip;q=0",
            "gzip;q=0.0, *",
            "*;q=0",
            "gzip;q=nope",
        ];
        for h in yes {
            assert!(accepts_gzip(Some(h)), "{h}");
        }
        for h in no {
            assert!(!accepts_gzip(Some(h)), "{h}");
        }
    }

    proptest::proptest! {
        #[test]
        fn accept_encoding_never_panics_and_q0_always_refuses(h in "\\PC{0,80}") {
            let _ = accepts_gzip(Some(&h));
            let refused = format!("{h},gzip;q=0");
            // An explicit gzip;q=0 placed last wins over anything before it.
            proptest::prop_assert!(!accepts_gzip(Some(&refused)) || h.to_ascii_lowercase().contains("x-gzip"));
        }
    }

    #[test]
    fn gzip_round_trip() {
        let body = "metric 1\n".repeat(1000);
        let z = gzip(body.as_bytes()).unwrap();
        assert!(z.len() < body.len() / 10);
        let mut out = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
