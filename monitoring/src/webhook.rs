//! A local HTTP endpoint that records what is POSTed to it: the receiving end of
//! Alertmanager's webhook and Slack notifications in the live tests. A
//! [`MockServer`] that answers every request `200` with `{"ok":true}` (what a webhook
//! receiver and Slack both accept), seen as deliveries with JSON bodies.

use std::sync::Arc;

use crate::mock_http::MockServer;

/// One request received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The request path, e.g. `/alerts/api`.
    pub path: String,
    /// The body, parsed as JSON (`Value::Null` if it is not JSON).
    pub body: serde_json::Value,
}

/// The recorder; it stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Recorder {
    base: String,
    server: Arc<MockServer>,
}

impl Recorder {
    /// Listens on a free port of 127.0.0.1 and answers every request `200 OK`.
    pub fn start() -> Recorder {
        let server = MockServer::start(|_| (200, r#"{"ok":true}"#.to_owned()));
        Recorder {
            base: server.url(),
            server: Arc::new(server),
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Everything received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.server
            .requests()
            .into_iter()
            .map(|r| Delivery {
                path: r.target.clone(),
                body: serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null),
            })
            .collect()
    }

    /// The deliveries to `path`.
    pub fn deliveries_to(&self, path: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.path == path)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_posted_json_by_path() {
        let recorder = Recorder::start();
        let response = crate::process::client()
            .post(format!("{}/alerts/api", recorder.base_url()))
            .json(&serde_json::json!({"status": "firing"}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let got = recorder.deliveries_to("/alerts/api");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body["status"], "firing");
    }
}
