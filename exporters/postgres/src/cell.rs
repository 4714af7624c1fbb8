//! One result value of any PostgreSQL type, decoded from the binary protocol, and its
//! conversions to a sample value and to a label value with lib/pq's (Go) semantics, so the
//! same row gives the same series as postgres_exporter.

use std::error::Error;
use std::fmt::Write as _;

use tokio_postgres::types::{FromSql, Kind, Type};

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// `bool`.
    Bool(bool),
    /// Integers (`int2`, `int4`, `int8`, `oid`, `xid`).
    Int(i64),
    /// `float4`, `float8`, `numeric`.
    Float(f64),
    /// `timestamp`/`timestamptz`, as Unix seconds (fractional).
    Time(f64),
    /// Text-like values and everything rendered as text (`inet`, `pg_lsn`, `interval`).
    Text(String),
    /// Numeric arrays (for HISTOGRAM columns).
    Array(Vec<f64>),
    /// A type this decoder does not know.
    Unsupported(String),
}

impl Cell {
    /// The sample value, as lib/pq + `dbToFloat64` give it: numbers as is, bool 0/1, time
    /// as whole Unix seconds, text parsed as a number, NULL as NaN. `None` when the value
    /// cannot be a number (postgres_exporter logs a non-fatal error and skips it).
    pub fn to_f64(&self) -> Option<f64> {
        match self {
            Cell::Null => Some(f64::NAN),
            Cell::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            Cell::Time(t) => Some(t.floor()),
            Cell::Text(s) => s.trim().parse().ok(),
            Cell::Array(_) | Cell::Unsupported(_) => None,
        }
    }

    /// The value when it is not NULL (a NULL becomes `None`, never NaN).
    pub fn non_null_f64(&self) -> Option<f64> {
        match self {
            Cell::Null => None,
            other => other.to_f64().filter(|v| !v.is_nan()),
        }
    }

    /// The label value, as `dbToString` gives it: NULL is empty, bool `true`/`false`, time
    /// as Unix seconds.
    pub fn to_label(&self) -> String {
        match self {
            Cell::Null | Cell::Unsupported(_) => String::new(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format_go_float(*f),
            Cell::Time(t) => (t.floor() as i64).to_string(),
            Cell::Text(s) => s.clone(),
            Cell::Array(v) => format!("{v:?}"),
        }
    }

    /// Whether the value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// Go's `%v` for a float64 (shortest representation; integers without a point).
fn format_go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

type BoxError = Box<dyn Error + Sync + Send>;

fn be_i16(raw: &[u8], at: usize) -> Result<i16, BoxError> {
    Ok(i16::from_be_bytes(
        raw.get(at..at + 2).ok_or("short value")?.try_into()?,
    ))
}

fn be_i32(raw: &[u8], at: usize) -> Result<i32, BoxError> {
    Ok(i32::from_be_bytes(
        raw.get(at..at + 4).ok_or("short value")?.try_into()?,
    ))
}

fn be_i64(raw: &[u8], at: usize) -> Result<i64, BoxError> {
    Ok(i64::from_be_bytes(
        raw.get(at..at + 8).ok_or("short value")?.try_into()?,
    ))
}

/// `numeric` in binary: ndigits, weight, sign, dscale, then base-10000 digits.
fn numeric(raw: &[u8]) -> Result<f64, BoxError> {
    let ndigits = be_i16(raw, 0)? as usize;
    let weight = be_i16(raw, 2)? as i32;
    let sign = be_i16(raw, 4)? as u16;
    match sign {
        0xC000 => return Ok(f64::NAN),
        0xD000 => return Ok(f64::INFINITY),
        0xF000 => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let mut v = 0f64;
    for i in 0..ndigits {
        let d = be_i16(raw, 8 + 2 * i)? as f64;
        v += d * 10000f64.powi(weight - i as i32);
    }
    Ok(if sign == 0x4000 { -v } else { v })
}

/// `inet`/`cidr` in binary, rendered like PostgreSQL's text output.
fn inet(raw: &[u8], is_cidr_type: bool) -> Result<String, BoxError> {
    let family = *raw.first().ok_or("short inet")?;
    let bits = *raw.get(1).ok_or("short inet")?;
    let n = *raw.get(3).ok_or("short inet")? as usize;
    let addr = raw.get(4..4 + n).ok_or("short inet")?;
    let (text, full) = if family == 2 || n == 4 {
        let a: [u8; 4] = addr.try_into()?;
        (std::net::Ipv4Addr::from(a).to_string(), 32)
    } else {
        let a: [u8; 16] = addr.try_into()?;
        (std::net::Ipv6Addr::from(a).to_string(), 128)
    };
    Ok(if is_cidr_type || bits != full {
        format!("{text}/{bits}")
    } else {
        text
    })
}

/// `interval` in binary (microseconds, days, months), in PostgreSQL's default text style.
fn interval(raw: &[u8]) -> Result<String, BoxError> {
    let us = be_i64(raw, 0)?;
    let days = be_i32(raw, 8)?;
    let months = be_i32(raw, 12)?;
    let mut s = String::new();
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        write!(
            s,
            "{years} year{} ",
            if years.abs() == 1 { "" } else { "s" }
        )?;
    }
    if months != 0 {
        write!(
            s,
            "{months} mon{} ",
            if months.abs() == 1 { "" } else { "s" }
        )?;
    }
    if days != 0 {
        write!(s, "{days} day{} ", if days.abs() == 1 { "" } else { "s" })?;
    }
    let neg = us < 0;
    let us = us.unsigned_abs();
    let (h, m, sec, frac) = (
        us / 3_600_000_000,
        us / 60_000_000 % 60,
        us / 1_000_000 % 60,
        us % 1_000_000,
    );
    if us != 0 || s.is_empty() {
        write!(s, "{}{h:02}:{m:02}:{sec:02}", if neg { "-" } else { "" })?;
        if frac != 0 {
            write!(s, ".{frac:06}")?;
            while s.ends_with('0') {
                s.pop();
            }
        }
    }
    Ok(s.trim_end().to_owned())
}

/// A one-dimensional numeric array.
fn array(elem: &Type, raw: &[u8]) -> Result<Vec<f64>, BoxError> {
    let ndim = be_i32(raw, 0)?;
    if ndim == 0 {
        return Ok(Vec::new());
    }
    if ndim != 1 {
        return Err("only one-dimensional arrays are supported".into());
    }
    let len = be_i32(raw, 12)? as usize;
    let mut at = 20;
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let n = be_i32(raw, at)?;
        at += 4;
        if n < 0 {
            out.push(f64::NAN);
            continue;
        }
        let v = raw.get(at..at + n as usize).ok_or("short array")?;
        at += n as usize;
        out.push(match Cell::from_sql(elem, v)? {
            c @ (Cell::Int(_) | Cell::Float(_) | Cell::Bool(_)) => c.to_f64().unwrap_or(f64::NAN),
            _ => return Err("array elements must be numeric".into()),
        });
    }
    Ok(out)
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        Ok(match *ty {
            Type::BOOL => Cell::Bool(raw.first().is_some_and(|b| *b != 0)),
            Type::INT2 => Cell::Int(be_i16(raw, 0)? as i64),
            Type::INT4 => Cell::Int(be_i32(raw, 0)? as i64),
            Type::INT8 => Cell::Int(be_i64(raw, 0)?),
            Type::OID | Type::XID | Type::CID | Type::REGPROC => {
                Cell::Int(u32::from_be_bytes(raw.get(..4).ok_or("short")?.try_into()?) as i64)
            }
            Type::XID8 => Cell::Int(be_i64(raw, 0)?),
            Type::FLOAT4 => {
                Cell::Float(f32::from_be_bytes(raw.get(..4).ok_or("short")?.try_into()?) as f64)
            }
            Type::FLOAT8 => {
                Cell::Float(f64::from_be_bytes(raw.get(..8).ok_or("short")?.try_into()?))
            }
            Type::NUMERIC => Cell::Float(numeric(raw)?),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let us = be_i64(raw, 0)?;
                match us {
                    i64::MAX => Cell::Float(f64::INFINITY),
                    i64::MIN => Cell::Float(f64::NEG_INFINITY),
                    us => Cell::Time((us + PG_EPOCH_US) as f64 / 1e6),
                }
            }
            Type::DATE => {
                Cell::Time((be_i32(raw, 0)? as f64) * 86_400.0 + PG_EPOCH_US as f64 / 1e6)
            }
            Type::INET => Cell::Text(inet(raw, false)?),
            Type::CIDR => Cell::Text(inet(raw, true)?),
            Type::PG_LSN => {
                let v = be_i64(raw, 0)? as u64;
                Cell::Text(format!("{:X}/{:X}", v >> 32, v & 0xFFFF_FFFF))
            }
            Type::INTERVAL => Cell::Text(interval(raw)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::CHAR => {
                Cell::Text(String::from_utf8_lossy(raw).into_owned())
            }
            _ => match ty.kind() {
                Kind::Array(elem) => Cell::Array(array(elem, raw)?),
                Kind::Enum(_) => Cell::Text(String::from_utf8_lossy(raw).into_owned()),
                Kind::Domain(inner) => Cell::from_sql(inner, raw)?,
                _ => Cell::Unsupported(ty.name().to_owned()),
            },
        })
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_binary() {
        // 12345.678: ndigits 3, weight 1, sign 0, dscale 3, digits 1 2345 6780
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C];
        assert!((numeric(&raw).unwrap() - 12345.678).abs() < 1e-9);
        let zero = [0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(numeric(&zero).unwrap(), 0.0);
        let neg = [0, 1, 0, 0, 0x40, 0, 0, 0, 0, 7];
        assert_eq!(numeric(&neg).unwrap(), -7.0);
    }

    #[test]
    fn inet_rendering() {
        assert_eq!(
            inet(&[2, 32, 0, 4, 127, 0, 0, 1], false).unwrap(),
            "127.0.0.1"
        );
        assert_eq!(
            inet(&[2, 24, 0, 4, 10, 0, 0, 0], false).unwrap(),
            "10.0.0.0/24"
        );
        let mut v6 = vec![3, 128, 0, 16];
        v6.extend([0; 15]);
        v6.push(1);
        assert_eq!(inet(&v6, false).unwrap(), "::1");
    }

    #[test]
    fn interval_rendering() {
        let mk = |us: i64, d: i32, m: i32| {
            let mut v = us.to_be_bytes().to_vec();
            v.extend(d.to_be_bytes());
            v.extend(m.to_be_bytes());
            interval(&v).unwrap()
        };
        assert_eq!(mk(3_723_500_000, 0, 0), "01:02:03.5");
        assert_eq!(mk(0, 2, 14), "1 year 2 mons 2 days");
        assert_eq!(mk(0, 0, 0), "00:00:00");
    }

    #[test]
    fn go_conversions() {
        assert!(Cell::Null.to_f64().unwrap().is_nan());
        assert_eq!(Cell::Null.non_null_f64(), None);
        assert_eq!(Cell::Bool(true).to_f64(), Some(1.0));
        assert_eq!(Cell::Time(1.9).to_f64(), Some(1.0));
        assert_eq!(Cell::Text("2.5".into()).to_f64(), Some(2.5));
        assert_eq!(Cell::Text("0/3000060".into()).to_f64(), None);
        assert_eq!(Cell::Float(3.0).to_label(), "3");
        assert_eq!(Cell::Bool(false).to_label(), "false");
        assert_eq!(Cell::Null.to_label(), "");
    }
}
