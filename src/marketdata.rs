//! Market data files: the CSV candles and funding rates shipped in `data/` (the defaults of the
//! paper exchange and `sim`). `load_*` read a file; `parse_*` turn its text into domain values
//! and are pure. Every error names the file and the line.
//!
//! Formats (see `data/SOURCES.md`): `open_time_ms,open,high,low,close,volume,close_time_ms` and
//! `funding_time_ms,funding_rate`, a header row, plain decimal numbers, times strictly increasing.

use crate::core::candle::{validate_series, Candle, FundingRate};
use rust_decimal::Decimal;
use std::path::Path;
use std::str::FromStr;

/// The candles file header.
pub const CANDLES_HEADER: &str = "open_time_ms,open,high,low,close,volume,close_time_ms";
/// The funding file header.
pub const FUNDING_HEADER: &str = "funding_time_ms,funding_rate";

/// Why a market data file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("{source_name}: cannot read: {problem}")]
    Io { source_name: String, problem: String },
    #[error("{source_name}:{line}: {problem}")]
    Line { source_name: String, line: usize, problem: String },
    #[error("{source_name}: no data rows")]
    Empty { source_name: String },
}

/// Reads and parses a candles CSV.
///
/// # Errors
/// The file cannot be read, or a line is malformed, inconsistent or out of order.
pub fn load_candles(path: &Path) -> Result<Vec<Candle>, DataError> {
    match shipped(path, SHIPPED_CANDLES_PATH, SHIPPED_CANDLES) {
        Some(text) => parse_candles(text, &path.display().to_string()),
        None => parse_candles(&read(path)?, &path.display().to_string()),
    }
}

/// Reads and parses a funding CSV.
///
/// # Errors
/// The file cannot be read, or a line is malformed or out of order.
pub fn load_funding(path: &Path) -> Result<Vec<FundingRate>, DataError> {
    match shipped(path, SHIPPED_FUNDING_PATH, SHIPPED_FUNDING) {
        Some(text) => parse_funding(text, &path.display().to_string()),
        None => parse_funding(&read(path)?, &path.display().to_string()),
    }
}

/// The copy inside the binary stands in for a shipped file (`…/data/BTCUSDT-4h.csv`) that is not
/// on disk, so paper mode and `sim` work offline in any folder; a file that exists is always read.
/// Does `path` (a `paper.candles` value) stand for the shipped candles inside the binary?
pub fn is_shipped_candles(path: &Path) -> bool {
    shipped(path, SHIPPED_CANDLES_PATH, SHIPPED_CANDLES).is_some()
}

fn shipped(path: &Path, rel: &str, text: &'static str) -> Option<&'static str> {
    (path.ends_with(rel) && std::fs::symlink_metadata(path).is_err()).then_some(text)
}

/// The largest market data file read (the shipped 6 years of 4h candles are under 1 MiB): a
/// device or an endless file (`/dev/zero`) must be refused, not read until memory runs out.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The shipped BTCUSDT 4h candles, inside the binary so that paper mode and `sim` work in any folder.
pub const SHIPPED_CANDLES: &str = include_str!("../data/BTCUSDT-4h.csv");
/// The shipped BTCUSDT funding rates.
pub const SHIPPED_FUNDING: &str = include_str!("../data/BTCUSDT-funding.csv");
/// The defaults of `paper.candles` and `paper.funding` (relative to the config's folder); when no
/// such file exists the copy above is used.
pub const SHIPPED_CANDLES_PATH: &str = "data/BTCUSDT-4h.csv";
pub const SHIPPED_FUNDING_PATH: &str = "data/BTCUSDT-funding.csv";

fn read(path: &Path) -> Result<String, DataError> {
    use std::io::Read;
    let io = |problem: String| DataError::Io { source_name: path.display().to_string(), problem };
    let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
    if !meta.is_file() {
        return Err(io("not a regular file".to_string()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io(format!("{} bytes is larger than the {MAX_FILE_BYTES}-byte limit", meta.len())));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| io(e.to_string()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(io(format!("grew past the {MAX_FILE_BYTES}-byte limit while read")));
    }
    Ok(text)
}

/// The data lines of `text` (1-based line number, fields) after checking the header.
fn rows<'a>(
    text: &'a str,
    source: &'a str,
    header: &'static str,
) -> Result<impl Iterator<Item = (usize, Vec<&'a str>)> + 'a, DataError> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let first = lines.next().unwrap_or_default().trim_start_matches('\u{feff}');
    if first != header {
        return Err(DataError::Line {
            source_name: source.to_string(),
            line: 1,
            problem: format!("header is {first:?}, expected {header:?}"),
        });
    }
    Ok(lines.enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 2, l.split(',').collect())))
}

fn field<T: FromStr>(fields: &[&str], i: usize, name: &str) -> Result<T, String> {
    let raw = fields.get(i).map(|s| s.trim()).ok_or_else(|| format!("missing {name}"))?;
    raw.parse().map_err(|_| format!("{name} {raw:?} is not a number"))
}

/// Parses candles CSV text; `source` names it in errors.
///
/// # Errors
/// A wrong header, a line without 7 numeric fields, an inconsistent candle (non-positive price,
/// high < low, open/close outside the range, negative volume, close time not after open time),
/// open times not strictly increasing, or no rows.
pub fn parse_candles(text: &str, source: &str) -> Result<Vec<Candle>, DataError> {
    let mut out: Vec<Candle> = Vec::with_capacity(text.len() / 64);
    for (line, f) in rows(text, source, CANDLES_HEADER)? {
        let at = |problem: String| DataError::Line { source_name: source.to_string(), line, problem };
        if f.len() != 7 {
            return Err(at(format!("{} fields, expected 7", f.len())));
        }
        let dec = |i: usize, name: &str| field::<Decimal>(&f, i, name).map_err(at);
        let c = Candle {
            open_time_ms: field(&f, 0, "open_time_ms").map_err(at)?,
            open: dec(1, "open")?,
            high: dec(2, "high")?,
            low: dec(3, "low")?,
            close: dec(4, "close")?,
            volume: dec(5, "volume")?,
            close_time_ms: field(&f, 6, "close_time_ms").map_err(at)?,
        };
        // The step is checked by the consumer; here only the candle itself (step 0 = no gap check).
        validate_series(std::slice::from_ref(&c), 0).map_err(|e| at(e.to_string()))?;
        if c.volume < Decimal::ZERO {
            return Err(at(format!("negative volume {}", c.volume)));
        }
        if c.close_time_ms <= c.open_time_ms {
            return Err(at(format!("close_time_ms {} is not after open_time_ms {}", c.close_time_ms, c.open_time_ms)));
        }
        if let Some(prev) = out.last() {
            if c.open_time_ms <= prev.open_time_ms {
                return Err(at(format!(
                    "open_time_ms {} does not follow the previous {}",
                    c.open_time_ms, prev.open_time_ms
                )));
            }
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(DataError::Empty { source_name: source.to_string() });
    }
    Ok(out)
}

/// Parses funding CSV text; `source` names it in errors.
///
/// # Errors
/// A wrong header, a line without 2 numeric fields, times not strictly increasing, or no rows.
pub fn parse_funding(text: &str, source: &str) -> Result<Vec<FundingRate>, DataError> {
    let mut out: Vec<FundingRate> = Vec::with_capacity(text.len() / 24);
    for (line, f) in rows(text, source, FUNDING_HEADER)? {
        let at = |problem: String| DataError::Line { source_name: source.to_string(), line, problem };
        if f.len() != 2 {
            return Err(at(format!("{} fields, expected 2", f.len())));
        }
        let r = FundingRate {
            time_ms: field(&f, 0, "funding_time_ms").map_err(at)?,
            rate: field(&f, 1, "funding_rate").map_err(at)?,
        };
        if let Some(prev) = out.last() {
            if r.time_ms <= prev.time_ms {
                return Err(at(format!("funding_time_ms {} does not follow the previous {}", r.time_ms, prev.time_ms)));
            }
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err(DataError::Empty { source_name: source.to_string() });
    }
    Ok(out)
}

/// The latest rate settled at or before `time_ms` (rates sorted by time, as loaded).
pub fn funding_at(rates: &[FundingRate], time_ms: i64) -> Option<&FundingRate> {
    let n = rates.partition_point(|r| r.time_ms <= time_ms);
    n.checked_sub(1).map(|i| &rates[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const HDR: &str = "open_time_ms,open,high,low,close,volume,close_time_ms\n";

    #[test]
    fn parses_the_shipped_format() {
        let text = format!(
            "{HDR}1577836800000,7189.43,7239.74,7170.15,7221.65,12055.759,1577851199999\n\
             1577851200000,7221.8,7230.0,7193.52,7205.26,5738.351,1577865599999\n"
        );
        let c = parse_candles(&text, "x.csv").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].open, dec!(7221.8));
        assert_eq!(c[1].close_time_ms, 1_577_865_599_999);
        // CRLF and a trailing blank line are fine.
        assert_eq!(parse_candles(&text.replace('\n', "\r\n"), "x.csv").unwrap(), c);
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            ("open,high\n1,2\n".to_string(), 1, "header"),
            (format!("{HDR}1,2,3,1,2,5\n"), 2, "6 fields"),
            (format!("{HDR}1,2,3,1,2,5,9\n1x,2,3,1,2,5,9\n"), 3, "open_time_ms \"1x\""),
            (format!("{HDR}1,2,1,3,2,5,9\n"), 2, "high 1 < low 3"),
            (format!("{HDR}1,0,3,0,2,5,9\n"), 2, "non-positive"),
            (format!("{HDR}1,2,3,1,2,-5,9\n"), 2, "negative volume"),
            (format!("{HDR}10,2,3,1,2,5,9\n"), 2, "not after open_time_ms"),
            (format!("{HDR}10,2,3,1,2,5,19\n10,2,3,1,2,5,19\n"), 3, "does not follow"),
            (format!("{HDR}1,2,3,1,two,5,9\n"), 2, "close \"two\" is not a number"),
        ];
        for (i, (text, line, what)) in cases.iter().enumerate() {
            let e = parse_candles(text, "data/c.csv").unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("data/c.csv:{line}: ")), "case {i}: {msg}");
            assert!(msg.contains(what), "case {i}: {msg}");
        }
        assert!(matches!(parse_candles(HDR, "e.csv"), Err(DataError::Empty { .. })));
        let e = load_candles(Path::new("/nonexistent/c.csv")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/c.csv: cannot read"), "{e}");
    }

    #[test]
    fn funding_parse_and_lookup() {
        let text = "funding_time_ms,funding_rate\n100,-0.00012359\n200,0.0001\n";
        let r = parse_funding(text, "f.csv").unwrap();
        assert_eq!(r[0].rate, dec!(-0.00012359));
        assert_eq!(funding_at(&r, 99), None);
        assert_eq!(funding_at(&r, 100).map(|r| r.time_ms), Some(100));
        assert_eq!(funding_at(&r, 199).map(|r| r.time_ms), Some(100));
        assert_eq!(funding_at(&r, 5000).map(|r| r.time_ms), Some(200));
        let e = parse_funding("funding_time_ms,funding_rate\n200,0.1\n100,0.1\n", "f.csv").unwrap_err();
        assert!(e.to_string().starts_with("f.csv:3: "), "{e}");
        assert!(parse_funding("t,r\n1,1\n", "f.csv").unwrap_err().to_string().contains("header"));
    }
}
