//! Time windows for Binance's history reads (`userTrades`, `allAlgoOrders`): each query covers
//! at most 7 days and answers at most `limit` rows, so a look-up is bounded by explicit
//! `startTime`/`endTime` and a full page is split in two until every page is short (issue 12 §1).
//! Splitting by time does not depend on the order rows come back in.

use crate::exchange::binance::codes;
use crate::exchange::error::ExResult;

/// The longest range one query may cover (Binance: "cannot be longer than 7 days"), less 1 ms
/// because both bounds are inclusive.
pub const WINDOW_MS: i64 = 7 * 24 * 3_600_000 - 1;

/// Queries one look-up may send before it gives up (a page split into more than this many is not
/// an order's history; the caller treats the error as "not known", never as "none").
pub const MAX_QUERIES: usize = 64;

/// Every row in `[start_ms, end_ms]` (inclusive, at most [`WINDOW_MS`] wide): `fetch(start, end)`
/// answers one page of at most `limit` rows; a full page may have more behind it, so its range is
/// split in halves and each half asked again.
pub fn collect<T>(
    start_ms: i64,
    end_ms: i64,
    limit: usize,
    mut fetch: impl FnMut(i64, i64) -> ExResult<Vec<T>>,
) -> ExResult<Vec<T>> {
    if end_ms < start_ms || end_ms - start_ms > WINDOW_MS {
        return Err(codes::parse_error(false, format!("history window {start_ms}..={end_ms} is not within 7 days")));
    }
    let mut out = Vec::new();
    let mut todo = vec![(start_ms, end_ms)];
    let mut sent = 0usize;
    while let Some((a, b)) = todo.pop() {
        if sent == MAX_QUERIES {
            return Err(codes::parse_error(
                false,
                format!("history {start_ms}..={end_ms} needs more than {MAX_QUERIES} queries: not read in full"),
            ));
        }
        sent += 1;
        let page = fetch(a, b)?;
        if page.len() < limit {
            out.extend(page);
            continue;
        }
        if a == b {
            return Err(codes::parse_error(false, format!("{limit} or more history rows in the one millisecond {a}")));
        }
        // Newer half first on the stack's bottom, so pages are read oldest first.
        let mid = a + (b - a) / 2;
        todo.push((mid + 1, b));
        todo.push((a, mid));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake history of row times, answering at most `limit` rows per range.
    fn pages(times: &[i64], limit: usize) -> impl FnMut(i64, i64) -> ExResult<Vec<i64>> + '_ {
        move |a, b| Ok(times.iter().copied().filter(|t| (a..=b).contains(t)).take(limit).collect())
    }

    #[test]
    fn a_full_page_is_split_until_every_row_is_read_once() {
        let times: Vec<i64> = (0..2_500).map(|i| 1_000 + i * 7).collect();
        let mut got = collect(0, 100_000, 1000, pages(&times, 1000)).unwrap();
        got.sort_unstable();
        assert_eq!(got, times);
    }

    #[test]
    fn a_short_page_is_one_query() {
        let mut n = 0;
        let got = collect(0, WINDOW_MS, 500, |_, _| {
            n += 1;
            Ok(vec![1, 2])
        })
        .unwrap();
        assert_eq!((got, n), (vec![1, 2], 1));
    }

    #[test]
    fn too_wide_a_window_or_too_dense_a_millisecond_is_an_error_not_a_short_answer() {
        assert!(collect(0, WINDOW_MS + 1, 10, pages(&[], 10)).is_err());
        assert!(collect(5, 4, 10, pages(&[], 10)).is_err());
        let same_ms = vec![42_i64; 20];
        assert!(collect(0, 100, 10, pages(&same_ms, 10)).is_err());
        let dense: Vec<i64> = (0..100_000).collect();
        assert!(collect(0, 99_999, 10, pages(&dense, 10)).is_err());
    }
}
