//! Reading sysfs attribute files and listing sysfs directories the way
//! `github.com/prometheus/procfs` does, so that values, orderings and failures match
//! node_exporter: one value per file, whitespace trimmed, directories listed in name order.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::number;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// procfs' `SysReadFile`: one `read` of at most 128 bytes, whitespace trimmed (sysfs
/// attributes are one short value; a longer file is cut, as upstream cuts it).
pub(crate) fn sys_read(path: &Path) -> Result<String, ReadError> {
    let bytes = sys_read_bytes(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// [`sys_read`] without the UTF-8 conversion.
pub(crate) fn sys_read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut buf = [0u8; 128];
    let n = loop {
        match file.read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    };
    Ok(buf[..n].trim_ascii().to_vec())
}

/// Go's `strings.ToValidUTF8(s, "\u{FFFD}")`: each run of invalid bytes becomes one
/// replacement character.
pub(crate) fn to_valid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut in_run = false;
    for chunk in bytes.utf8_chunks() {
        if !chunk.valid().is_empty() {
            out.push_str(chunk.valid());
            in_run = false;
        }
        if !chunk.invalid().is_empty() && !in_run {
            out.push('\u{FFFD}');
            in_run = true;
        }
    }
    out
}

/// A whole file (procfs' `os.ReadFile`), whitespace trimmed.
pub(crate) fn read_trimmed(path: &Path) -> Result<String, ReadError> {
    let text = fs::read(path).map_err(io_err(path))?;
    Ok(String::from_utf8_lossy(&text).trim().to_owned())
}

fn parse_with<T>(
    path: &Path,
    source: &'static str,
    text: &str,
    parse: fn(&str) -> Result<T, ParseErrorKind>,
) -> Result<T, ReadError> {
    parse(text).map_err(|kind| ReadError::Parse {
        path: path.to_owned(),
        source: ParseError::new(source, 1, kind),
    })
}

/// procfs' `ReadUintFromFile`: the whole file, trimmed, as an unsigned decimal.
pub(crate) fn read_uint(path: &Path, source: &'static str) -> Result<u64, ReadError> {
    parse_with(path, source, &read_trimmed(path)?, number::uint)
}

/// The entries of `dir` by name, sorted as Go's `os.ReadDir` returns them (byte order).
pub(crate) fn sorted_names(dir: &Path) -> Result<Vec<String>, ReadError> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_unstable();
    Ok(names)
}

/// Whether a read failed because the file or directory is not there (the kernel lacks the
/// feature), node_exporter's `errors.Is(err, os.ErrNotExist)`.
pub(crate) fn is_missing(err: &ReadError) -> bool {
    err.is_not_found()
}

/// Whether a read failed for lack of permission (`os.ErrPermission`).
pub(crate) fn is_permission(err: &ReadError) -> bool {
    matches!(err, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied)
}

/// node_exporter's `SanitizeMetricName`: every match of `_*[^0-9A-Za-z_]+_*` becomes `_`.
pub(crate) fn sanitize_metric_name(name: &str) -> String {
    static INVALID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("_*[^0-9A-Za-z_]+_*").expect("valid pattern"));
    INVALID.replace_all(name, "_").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_like_node_exporter() {
        assert_eq!(sanitize_metric_name("package-0"), "package_0");
        assert_eq!(sanitize_metric_name("psys"), "psys");
        assert_eq!(sanitize_metric_name("a__-__b"), "a_b");
        assert_eq!(sanitize_metric_name("a__b"), "a__b");
        assert_eq!(sanitize_metric_name("a-_-b"), "a__b");
        assert_eq!(sanitize_metric_name("-x-"), "_x_");
        assert_eq!(to_valid_utf8(b"a\x80\x81b\xffc"), "a\u{FFFD}b\u{FFFD}c");
    }
}
