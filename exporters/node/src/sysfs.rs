//! The sysfs readers of [`crate::attr`] with `std::io::Error`s, for the collectors that tell
//! failures apart by their kind the way procfs does (absent, not permitted, ENODATA, not a
//! number): thermal, cpufreq, hwmon, power supplies, NVMe, bonding, mdadm, btrfs, xfs, zfs.
//! Also `filepath.Glob`'s listing: names sorted bytewise, a missing directory is empty.

use std::io;
use std::path::{Path, PathBuf};

use crate::attr;
use crate::error::ReadError;

/// A read error as an `io::Error` of the same kind, naming the file.
fn io_of(e: ReadError) -> io::Error {
    match e {
        ReadError::Io { path, source } => at(&path, source),
        other => invalid(other),
    }
}

/// One attribute, trimmed of surrounding whitespace (procfs's `SysReadFile`).
pub(crate) fn attribute(path: &Path) -> io::Result<String> {
    attr::sys_read(path).map_err(io_of)
}

/// [`attribute`] with invalid UTF-8 replaced as Go's `strings.ToValidUTF8` does (one
/// replacement character per run of bad bytes), for values that become label values.
pub(crate) fn text_attribute(path: &Path) -> io::Result<String> {
    attr::sys_read_bytes(path)
        .map(|b| attr::to_valid_utf8(&b))
        .map_err(io_of)
}

/// A whole file, trimmed (procfs's `ReadFileNoStat` then `strings.TrimSpace`), for files that
/// may be longer than one attribute.
pub(crate) fn whole(path: &Path) -> io::Result<String> {
    attr::read_trimmed(path).map_err(io_of)
}

/// A whole file parsed as an unsigned integer (procfs's `ReadUintFromFile`).
pub(crate) fn uint_file(path: &Path) -> io::Result<u64> {
    let s = whole(path)?;
    crate::number::uint(&s).map_err(|e| at(path, invalid(e)))
}

/// An attribute parsed as a signed integer (procfs's `SysReadIntFromFile`).
pub(crate) fn int_attribute(path: &Path) -> io::Result<i64> {
    let s = attribute(path)?;
    crate::number::int(&s).map_err(|e| at(path, invalid(e)))
}

/// An attribute parsed as an unsigned integer (procfs's `SysReadUintFromFile`).
pub(crate) fn uint_attribute(path: &Path) -> io::Result<u64> {
    let s = attribute(path)?;
    crate::number::uint(&s).map_err(|e| at(path, invalid(e)))
}

/// `e` with `path` in its message, of the same kind; ENODATA and EAGAIN are kept as they
/// are, since callers tell them apart by their number.
pub(crate) fn at(path: &Path, e: io::Error) -> io::Error {
    if matches!(e.raw_os_error(), Some(libc::ENODATA | libc::EAGAIN)) {
        return e;
    }
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// An `InvalidData` error for a value that does not parse.
pub(crate) fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Whether an error is "no such file" or "permission denied", which procfs treats as an
/// absent optional attribute.
pub(crate) fn absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    )
}

/// An optional attribute: `None` when absent or unreadable for lack of permission.
pub(crate) fn optional<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if absent(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The entries of `dir` whose names match `filepath.Glob`'s `<prefix>[0-9]*` (with `digit`)
/// or `<prefix>*`, sorted by name; nothing when `dir` cannot be listed.
pub(crate) fn glob(dir: &Path, prefix: &str, digit: bool) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(prefix)?;
            if digit && !rest.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            Some((name, e.path()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The entries of `dir`, sorted by name (`os.ReadDir`); the error when it cannot be listed.
pub(crate) fn read_dir_sorted(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let names = attr::sorted_names(dir).map_err(io_of)?;
    Ok(names
        .into_iter()
        .map(|n| {
            let path = dir.join(&n);
            (n, path)
        })
        .collect())
}

/// The entries of a class directory (`/sys/class/hwmon`, ...) for a collector: "no data"
/// when the kernel has no such class (logging `absent` at debug level), a failure otherwise.
pub(crate) fn class_entries(
    dir: &Path,
    absent: &str,
) -> Result<Vec<(String, PathBuf)>, aiplatform_prometheus::CollectError> {
    use aiplatform_prometheus::CollectError;
    match read_dir_sorted(dir) {
        Ok(d) => Ok(d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!("{absent}");
            Err(CollectError::NoData)
        }
        Err(e) => Err(CollectError::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_short_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("node-sysfs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("zone10")).unwrap();
        std::fs::create_dir_all(dir.join("zone2")).unwrap();
        std::fs::create_dir_all(dir.join("zonex")).unwrap();
        std::fs::write(dir.join("a"), format!(" 42\n{}", "x".repeat(300))).unwrap();
        assert_eq!(attribute(&dir.join("a")).unwrap().len(), 127);
        std::fs::write(dir.join("n"), "-7\n").unwrap();
        assert_eq!(int_attribute(&dir.join("n")).unwrap(), -7);
        assert!(uint_attribute(&dir.join("n")).is_err());
        assert_eq!(optional(attribute(&dir.join("none"))).unwrap(), None);
        let names: Vec<_> = glob(&dir, "zone", true).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["zone10", "zone2"]);
        assert!(glob(&dir.join("none"), "zone", true).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
