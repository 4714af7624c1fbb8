//! What New Relic's answers mean, beyond the pipeline's defaults.
//!
//! The Metric and Log APIs answer `202 Accepted` with `{"requestId":"..."}` once a payload
//! passed the first checks (problems found later become `NrIntegrationError` events carrying
//! that id, so it is logged at debug level). `403` means the key was refused: revoked, of
//! another account type, or sent to another region's endpoint. Nothing this process sends
//! will change that, so the backend stops, says so once, and drops what it holds. `401` is
//! read the same way. Everything else follows the pipeline: `400` and other 4xx dropped and
//! counted, `413` split in half, `408`, `429` and 5xx retried (after `Retry-After` when given).

use std::sync::Arc;

use aiplatform_push::{Classifier, Failure, Outcome};
use bytes::Bytes;
use http::Response;

/// The classifier for one API (`"Metric API"`, `"Log API"`) and key kind (`"license key"`).
/// `log_ids`: log each accepted payload's `requestId` at debug level (not for the Log API:
/// its events would come back to it, one per request).
pub(crate) fn classifier(
    api: &'static str,
    key: &'static str,
    header: &'static str,
    log_ids: bool,
) -> Classifier {
    Arc::new(move |response: &Response<Bytes>, detail: &str| {
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                if log_ids && let Some(id) = request_id(response.body()) {
                    tracing::debug!(request_id = id, "newrelic: the {api} accepted a payload");
                }
                Some(Outcome::Delivered)
            }
            401 | 403 => Some(Outcome::Stop {
                failure: Failure::Status(status),
                detail: format!(
                    "New Relic's {api} refused the {key} (sent in the {header} header, not shown here): \
                     check that it is an ingest key of the account and that the region matches \
                     the key (an EU key is refused by the US endpoint); {detail}"
                ),
            }),
            _ => None,
        }
    })
}

/// The `requestId` of a `{"requestId":"..."}` answer.
pub(crate) fn request_id(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("\"requestId\"")? + "\"requestId\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response<Bytes> {
        let mut r = Response::new(Bytes::from(body.to_owned()));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r
    }

    #[test]
    fn request_ids() {
        assert_eq!(
            request_id(br#"{"requestId":"f0a6b7c2-1111-4222-8333-944455556666"}"#),
            Some("f0a6b7c2-1111-4222-8333-944455556666")
        );
        assert_eq!(request_id(br#"{ "requestId" : "x" }"#), Some("x"));
        assert_eq!(request_id(b"accepted"), None);
    }

    #[test]
    fn statuses() {
        let c = classifier("Metric API", "license key", "Api-Key", true);
        assert_eq!(
            c(&response(202, r#"{"requestId":"a"}"#), ""),
            Some(Outcome::Delivered)
        );
        match c(&response(403, ""), "HTTP 403: ") {
            Some(Outcome::Stop { failure, detail }) => {
                assert_eq!(failure, Failure::Status(403));
                assert!(detail.contains("refused the license key"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        for s in [400, 404, 408, 413, 429, 500, 503] {
            assert_eq!(c(&response(s, ""), ""), None, "{s}: left to the pipeline");
        }
    }
}
