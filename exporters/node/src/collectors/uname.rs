//! `uname`: `node_uname_info` from the `uname(2)` system call.

use std::ffi::CStr;
use std::io;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::ReadError;
use aiplatform_prometheus::family::{family, push};

/// What `uname(2)` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uname {
    /// `sysname` (`Linux`).
    pub sysname: String,
    /// `release`.
    pub release: String,
    /// `version`.
    pub version: String,
    /// `machine`.
    pub machine: String,
    /// `nodename`.
    pub nodename: String,
    /// `domainname`.
    pub domainname: String,
}

/// Calls `uname(2)`.
pub fn read_uname() -> Result<Uname, ReadError> {
    // SAFETY: utsname is plain old data; zeroed is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(ReadError::Syscall {
            call: "uname",
            source: io::Error::last_os_error(),
        });
    }
    let field = |chars: &[libc::c_char]| {
        // The kernel NUL-terminates every field; the fallback is for a full array.
        let bytes: &[u8] =
            // SAFETY: c_char and u8 have the same size and alignment.
            unsafe { std::slice::from_raw_parts(chars.as_ptr().cast::<u8>(), chars.len()) };
        CStr::from_bytes_until_nul(bytes)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
    };
    Ok(Uname {
        sysname: field(&u.sysname),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
        nodename: field(&u.nodename),
        domainname: field(&u.domainname),
    })
}

/// The `uname` collector.
#[derive(Debug, Default)]
pub struct UnameCollector;

impl NodeCollector for UnameCollector {
    const NAME: &'static str = "uname";

    fn from_config(_: &Config) -> UnameCollector {
        UnameCollector
    }
}

impl BlockingCollector for UnameCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let u = read_uname().map_err(CollectError::new)?;
        let mut f = family(
            MetricKind::Gauge,
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            &[
                "domainname",
                "machine",
                "nodename",
                "release",
                "sysname",
                "version",
            ],
        );
        push(
            &mut f,
            &[
                &u.domainname,
                &u.machine,
                &u.nodename,
                &u.release,
                &u.sysname,
                &u.version,
            ],
            1.0,
        );
        out.push(f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_host() {
        let u = read_uname().unwrap();
        assert_eq!(u.sysname, "Linux");
        assert!(!u.release.is_empty() && !u.machine.is_empty());
    }
}
