//! The HTML landing page served at `/`.
//!
//! Laid out like the exporter-toolkit's page (name bar, description, version, links). Links
//! are relative (`metrics`, not `/metrics`), as the toolkit makes them, so the page keeps
//! working behind a reverse proxy that mounts the exporter under a prefix.
//!
//! Debian 12's Go exporters (node 1.5.0, postgres 0.11.1, redis 1.45.0) answered *every*
//! unknown path with this page; their later versions answer 404 for anything but `/`, and so
//! does this server. The page is not served when the telemetry path is `/`.

use std::fmt::Write as _;

/// The landing page's content; the binary sets its name, description and version.
///
/// ```
/// use aiplatform_prometheus::LandingPage;
///
/// let page = LandingPage::new("Node Exporter")
///     .description("Prometheus Node Exporter")
///     .version("0.1.0")
///     .link("/probe?target=localhost", "Probe", "scrape another target");
/// let html = page.render("/metrics");
/// assert!(html.contains("<title>Node Exporter</title>"));
/// assert!(html.contains(r#"<a href="metrics">Metrics</a>"#));
/// ```
#[derive(Debug, Clone)]
pub struct LandingPage {
    name: String,
    description: Option<String>,
    version: Option<String>,
    links: Vec<Link>,
    header_color: String,
}

#[derive(Debug, Clone)]
struct Link {
    address: String,
    text: String,
    description: String,
}

impl LandingPage {
    /// A page titled `name` (for instance `Node Exporter`).
    pub fn new(name: impl Into<String>) -> LandingPage {
        LandingPage {
            name: name.into(),
            description: None,
            version: None,
            links: Vec::new(),
            // Prometheus orange, the toolkit's default.
            header_color: "#e6522c".to_owned(),
        }
    }

    /// A one-line description shown under the name.
    pub fn description(mut self, text: impl Into<String>) -> LandingPage {
        self.description = Some(text.into());
        self
    }

    /// The version line.
    pub fn version(mut self, version: impl Into<String>) -> LandingPage {
        self.version = Some(version.into());
        self
    }

    /// Adds a link after the telemetry link (`description` may be empty).
    pub fn link(
        mut self,
        address: impl Into<String>,
        text: impl Into<String>,
        description: impl Into<String>,
    ) -> LandingPage {
        self.links.push(Link {
            address: address.into(),
            text: text.into(),
            description: description.into(),
        });
        self
    }

    /// The colour of the name bar (CSS colour).
    pub fn header_color(mut self, color: impl Into<String>) -> LandingPage {
        self.header_color = color.into();
        self
    }

    /// The page, linking first to `telemetry_path`.
    pub fn render(&self, telemetry_path: &str) -> String {
        let mut h = String::with_capacity(1024);
        let name = escape(&self.name);
        let _ = write!(
            h,
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{name}</title>\n\
             <style>body{{font-family:-apple-system,BlinkMacSystemFont,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;margin:0}}\
             header{{background-color:{color};color:#fff;font-size:1rem;padding:1rem}}main{{padding:1rem}}</style>\n\
             </head>\n<body>\n<header>{name}</header>\n<main>\n",
            color = escape(&self.header_color),
        );
        if let Some(d) = &self.description {
            let _ = writeln!(h, "<h3>{}</h3>", escape(d));
        }
        if let Some(v) = &self.version {
            let _ = writeln!(h, "<div>Version: {}</div>", escape(v));
        }
        h.push_str("<div><ul>\n");
        let metrics = Link {
            address: telemetry_path.to_owned(),
            text: "Metrics".to_owned(),
            description: String::new(),
        };
        for link in std::iter::once(&metrics).chain(&self.links) {
            let address = link.address.strip_prefix('/').unwrap_or(&link.address);
            let _ = write!(
                h,
                "<li><a href=\"{}\">{}</a>",
                escape(address),
                escape(&link.text)
            );
            if !link.description.is_empty() {
                let _ = write!(h, ": {}", escape(&link.description));
            }
            h.push_str("</li>\n");
        }
        h.push_str("</ul></div>\n</main>\n</body>\n</html>\n");
        h
    }
}

/// HTML text and attribute escaping.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped() {
        let page = LandingPage::new("<script>")
            .description("a & b")
            .version("\"1\"")
            .link("/x?a=1&b=2", "X<", "");
        let html = page.render("/metrics\"><script>");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<title>&lt;script&gt;</title>"));
        assert!(html.contains("<h3>a &amp; b</h3>"));
        assert!(html.contains("Version: &#34;1&#34;"));
        assert!(html.contains("<a href=\"x?a=1&amp;b=2\">X&lt;</a></li>"));
    }

    #[test]
    fn optional_parts_left_out() {
        let html = LandingPage::new("Redis Exporter").render("/metrics");
        assert!(!html.contains("<h3>"));
        assert!(!html.contains("Version:"));
        assert_eq!(html.matches("<li>").count(), 1);
    }
}
