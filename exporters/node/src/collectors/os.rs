//! `os`: `node_os_info` and `node_os_version` from `os-release` (`/etc/os-release`, else
//! `/usr/lib/os-release`, under `--path.rootfs`); upstream also
//! `node_os_support_end_timestamp_seconds`. The parsed file is kept until its path or
//! modification time changes.

use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use parking_lot::Mutex;

use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::paths::Paths;
use crate::read::read_string;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{family, push, scalar};

/// The `os-release` keys node_exporter reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `NAME`.
    pub name: String,
    /// `ID`.
    pub id: String,
    /// `ID_LIKE`.
    pub id_like: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
    /// `VARIANT`.
    pub variant: String,
    /// `VARIANT_ID`.
    pub variant_id: String,
    /// `VERSION`.
    pub version: String,
    /// `VERSION_ID`.
    pub version_id: String,
    /// `VERSION_CODENAME`.
    pub version_codename: String,
    /// `BUILD_ID`.
    pub build_id: String,
    /// `IMAGE_ID`.
    pub image_id: String,
    /// `IMAGE_VERSION`.
    pub image_version: String,
    /// `SUPPORT_END`.
    pub support_end: String,
}

impl OsRelease {
    /// The leading `major[.minor]` of `VERSION_ID` as a number (0 when there is none).
    pub fn version_number(&self) -> f64 {
        let s = &self.version_id;
        let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if int_end == 0 {
            return 0.0;
        }
        let mut end = int_end;
        if s[end..].starts_with('.') {
            end += 1;
            end += s[end..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(s.len() - end);
        }
        s[..end].trim_end_matches('.').parse().unwrap_or(0.0)
    }

    /// `SUPPORT_END` (`YYYY-MM-DD`) as Unix seconds at midnight UTC.
    pub fn support_end_seconds(&self) -> Option<Result<i64, ParseError>> {
        if self.support_end.is_empty() {
            return None;
        }
        Some(parse_date(&self.support_end))
    }
}

/// `YYYY-MM-DD` → seconds since the epoch (UTC midnight).
fn parse_date(s: &str) -> Result<i64, ParseError> {
    let bad = || {
        ParseError::new(
            "os-release",
            0,
            ParseErrorKind::malformed("SUPPORT_END date", s),
        )
    };
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, ParseError> {
        let part = &s[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses an `os-release` file with the rules of hashicorp/go-envparse (node_exporter's
/// parser): `KEY=value`, an optional `export `, `#` comments, single quotes literal, double
/// quotes with `\\ \" \n \t` escapes; control characters and unmatched quotes are errors.
pub fn parse_os_release(text: &str) -> Result<OsRelease, ParseError> {
    let mut os = OsRelease::default();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("os-release", i + 1, kind);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, value) = trimmed
            .split_once('=')
            .ok_or_else(|| err(ParseErrorKind::Missing("'='")))?;
        let key = key.trim();
        let key = key.strip_prefix("export ").unwrap_or(key).trim();
        if !key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err(err(ParseErrorKind::malformed(
                "key must start with [A-Za-z_]",
                key,
            )));
        }
        let value = unquote(value.trim()).map_err(err)?;
        let slot = match key {
            "NAME" => &mut os.name,
            "ID" => &mut os.id,
            "ID_LIKE" => &mut os.id_like,
            "PRETTY_NAME" => &mut os.pretty_name,
            "VARIANT" => &mut os.variant,
            "VARIANT_ID" => &mut os.variant_id,
            "VERSION" => &mut os.version,
            "VERSION_ID" => &mut os.version_id,
            "VERSION_CODENAME" => &mut os.version_codename,
            "BUILD_ID" => &mut os.build_id,
            "IMAGE_ID" => &mut os.image_id,
            "IMAGE_VERSION" => &mut os.image_version,
            "SUPPORT_END" => &mut os.support_end,
            _ => continue,
        };
        *slot = value;
    }
    Ok(os)
}

/// go-envparse's value state machine.
fn unquote(value: &str) -> Result<String, ParseErrorKind> {
    #[derive(PartialEq)]
    enum Mode {
        Normal,
        Double,
        Single,
        Escape,
    }
    let mut out = String::with_capacity(value.len());
    let mut last_significant = 0;
    let mut mode = Mode::Normal;
    for c in value.chars() {
        if (c as u32) < 32 {
            return Err(ParseErrorKind::malformed(
                "control character in value",
                value,
            ));
        }
        match mode {
            Mode::Normal => match c {
                '"' => mode = Mode::Double,
                '\'' => mode = Mode::Single,
                '#' => {
                    out.truncate(last_significant);
                    return Ok(out);
                }
                ' ' | '\t' => out.push(c),
                _ => {
                    out.push(c);
                    last_significant = out.len();
                }
            },
            Mode::Double => match c {
                '"' => mode = Mode::Normal,
                '\\' => mode = Mode::Escape,
                _ => {
                    out.push(c);
                    last_significant = out.len();
                }
            },
            Mode::Escape => {
                out.push(match c {
                    '"' => '"',
                    '\\' => '\\',
                    'n' => '\n',
                    't' => '\t',
                    _ => return Err(ParseErrorKind::malformed("invalid escape sequence", value)),
                });
                last_significant = out.len();
                mode = Mode::Double;
            }
            Mode::Single => match c {
                '\'' => mode = Mode::Normal,
                _ => {
                    out.push(c);
                    last_significant = out.len();
                }
            },
        }
    }
    match mode {
        Mode::Normal => Ok(out),
        Mode::Double | Mode::Escape => Err(ParseErrorKind::malformed("unmatched '\"'", value)),
        Mode::Single => Err(ParseErrorKind::malformed("unmatched \"'\"", value)),
    }
}

const CANDIDATES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

#[derive(Debug)]
struct Cached {
    path: PathBuf,
    mtime: SystemTime,
    os: OsRelease,
}

/// The `os` collector.
#[derive(Debug)]
pub struct OsCollector {
    paths: Paths,
    compat: Compat,
    cache: Mutex<Option<Cached>>,
}

impl OsCollector {
    /// A collector reading under `paths`.
    pub fn new(paths: Paths, compat: Compat) -> OsCollector {
        OsCollector {
            paths,
            compat,
            cache: Mutex::new(None),
        }
    }

    /// The current release, re-read only when the file (or its mtime) changed.
    fn current(&self) -> Result<Option<OsRelease>, ReadError> {
        for c in CANDIDATES {
            let path = self.paths.rootfs_join(c);
            let mtime = match fs::metadata(&path) {
                Ok(m) => m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ReadError::Io { path, source }),
            };
            let mut cache = self.cache.lock();
            if let Some(c) = cache.as_ref()
                && c.path == path
                && c.mtime == mtime
            {
                return Ok(Some(c.os.clone()));
            }
            let text = read_string(&path)?;
            let os = parse_os_release(&text).map_err(|source| ReadError::Parse {
                path: path.clone(),
                source,
            })?;
            *cache = Some(Cached {
                path,
                mtime,
                os: os.clone(),
            });
            return Ok(Some(os));
        }
        Ok(None)
    }
}

impl NodeCollector for OsCollector {
    const NAME: &'static str = "os";

    fn from_config(c: &Config) -> OsCollector {
        OsCollector::new(c.paths.clone(), c.compat)
    }
}

impl BlockingCollector for OsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let Some(os) = self.current().map_err(CollectError::new)? else {
            tracing::debug!("no os-release file found");
            return Err(CollectError::NoData);
        };
        let mut info = family(
            MetricKind::Gauge,
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
            &[
                "build_id",
                "id",
                "id_like",
                "image_id",
                "image_version",
                "name",
                "pretty_name",
                "variant",
                "variant_id",
                "version",
                "version_codename",
                "version_id",
            ],
        );
        push(
            &mut info,
            &[
                &os.build_id,
                &os.id,
                &os.id_like,
                &os.image_id,
                &os.image_version,
                &os.name,
                &os.pretty_name,
                &os.variant,
                &os.variant_id,
                &os.version,
                &os.version_codename,
                &os.version_id,
            ],
            1.0,
        );
        out.push(info);
        let version = os.version_number();
        if version > 0.0 {
            let mut v = family(
                MetricKind::Gauge,
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                &["id", "id_like", "name"],
            );
            push(&mut v, &[&os.id, &os.id_like, &os.name], version);
            out.push(v);
        }
        if !self.compat.is_debian12()
            && let Some(end) = os.support_end_seconds()
        {
            let end = end.map_err(CollectError::new)?;
            out.push(scalar(
                MetricKind::Gauge,
                "node_os_support_end_timestamp_seconds",
                "Metric containing the end-of-life date timestamp of the OS.",
                end as f64,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_release() {
        let os = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n# comment\nexport BUILD_ID='x y' # trailing\n",
        )
        .unwrap();
        assert_eq!(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(os.version_codename, "bookworm");
        assert_eq!(os.build_id, "x y");
        assert_eq!(os.version_number(), 12.0);
    }

    #[test]
    fn versions_and_dates() {
        let v = |s: &str| {
            OsRelease {
                version_id: s.into(),
                ..OsRelease::default()
            }
            .version_number()
        };
        assert_eq!(v("22.04"), 22.04);
        assert_eq!(v("3.18.4"), 3.18);
        assert_eq!(v("rolling"), 0.0);
        assert_eq!(v("7."), 7.0);
        assert_eq!(parse_date("2028-06-30").unwrap(), 1_845_936_000);
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert!(parse_date("2028-13-01").is_err() && parse_date("2028-02-30").is_err());
    }

    #[test]
    fn refuses_broken_quoting() {
        assert!(parse_os_release("NAME=\"open\n").is_err());
        assert!(parse_os_release("NAME='open\n").is_err());
        assert!(parse_os_release("NAME=\"\\q\"\n").is_err());
        assert!(parse_os_release("no separator\n").is_err());
        assert!(parse_os_release("1KEY=x\n").is_err());
    }
}
