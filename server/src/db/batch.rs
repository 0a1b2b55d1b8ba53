//! Multi-row statements in a few fixed sizes. Rows are written in chunks whose lengths are powers
//! of two up to a maximum, so only a handful of distinct statements exist and each keeps its slot
//! in the connection's prepared-statement cache.

use crate::error::{ApiError, ApiResult};

/// How many of `remaining` rows the next chunk takes: the largest power of two that is at most
/// `remaining` and `max` (itself a power of two), and at least 1.
pub(crate) fn chunk_len(remaining: usize, max: usize) -> usize {
    let n = remaining.clamp(1, max);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// Entry `k` is `build(2^k)`, the statement for 2^k rows, for every chunk up to `max` rows.
pub(crate) fn statements(max: usize, build: impl Fn(usize) -> String) -> Vec<String> {
    (0..=max.trailing_zeros()).map(|k| build(1 << k)).collect()
}

/// `row` `n` times, comma-separated: the VALUES list of an `n`-row INSERT.
pub(crate) fn values(row: &str, n: usize) -> String {
    vec![row; n].join(", ")
}

/// The statement of `table` (built by [`statements`]) for a chunk of `rows` rows.
pub(crate) fn statement(table: &[String], rows: usize) -> ApiResult<&str> {
    table
        .get(rows.trailing_zeros() as usize)
        .filter(|_| rows.is_power_of_two())
        .map(String::as_str)
        .ok_or_else(|| ApiError::Internal(format!("no insert statement for {rows} rows")))
}
