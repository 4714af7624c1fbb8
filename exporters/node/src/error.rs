//! Typed errors: what a parser refused ([`ParseError`]) and what reading a source failed on
//! ([`ReadError`]).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// A `/proc` or `/sys` file (or an `os-release`, or a textfile) that does not have the
/// expected shape.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{source_name}: line {line}: {kind}")]
pub struct ParseError {
    /// Which kind of file was being parsed (`meminfo`, `net/dev`, ...).
    pub source_name: &'static str,
    /// The 1-based line number where parsing stopped (0 when not line based).
    pub line: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// A parse error at `line` of `source_name`.
    pub fn new(source_name: &'static str, line: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            source_name,
            line,
            kind,
        }
    }
}

/// What a parser found wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line has too few (or too many) fields.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// What the format needs (a minimum, or an exact count).
        expected: usize,
        /// What the line has.
        found: usize,
    },
    /// A field that must be a number is not one.
    #[error("invalid number {text:?}")]
    Number {
        /// The offending field (cut to 64 bytes).
        text: String,
    },
    /// A required part is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The text does not follow the format.
    #[error("{what}: {text:?}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// The offending text (cut to 64 bytes).
        text: String,
    },
}

impl ParseErrorKind {
    /// A [`ParseErrorKind::Number`] for `text`.
    pub fn number(text: &str) -> ParseErrorKind {
        ParseErrorKind::Number {
            text: clip(text).to_owned(),
        }
    }

    /// A [`ParseErrorKind::Malformed`] for `text`.
    pub fn malformed(what: &'static str, text: &str) -> ParseErrorKind {
        ParseErrorKind::Malformed {
            what,
            text: clip(text).to_owned(),
        }
    }
}

/// At most 64 bytes of `s`, cut on a character boundary.
fn clip(s: &str) -> &str {
    if s.len() <= 64 {
        return s;
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reading a collector's source failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file was read but could not be parsed.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ParseError,
    },
    /// A system call failed.
    #[error("{call}: {source}")]
    Syscall {
        /// The call (`uname`, `netlink RTM_GETLINK`, ...).
        call: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl ReadError {
    /// Whether the error is a missing file (some sources are optional).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// A command-line value that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A regular expression flag does not compile.
    #[error("--{flag}: invalid regular expression: {source}")]
    Regex {
        /// The flag.
        flag: &'static str,
        /// Why.
        #[source]
        source: Box<regex::Error>,
    },
    /// A flag's value is not one the collector accepts.
    #[error("--{flag}: {reason}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// Why.
        reason: String,
    },
    /// Two flags that exclude each other were both given.
    #[error("--{0} and --{1} are mutually exclusive")]
    Exclusive(&'static str, &'static str),
}
