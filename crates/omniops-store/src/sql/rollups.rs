// Rollups: their counters, the deltas a batch adds (saturating, never wrapping), and reads
// of a window's sums (split and widened, so no stored value makes a read fail).

use super::ingest::{Tx, CHUNK};
use super::DB;
use crate::batch::RollupDelta;
use omniops_core::clock::Micros;
use omniops_core::rollup::{Counters, DURATION_BOUNDS_MS, DURATION_BUCKETS};
use omniops_core::window::Window;
use sqlx::{Pool, QueryBuilder, Row};
use std::collections::HashMap;

pub(crate) const COUNTER_COLUMNS: &str = "requests, successes, failures, unpriced, input_tokens, \
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, \
    duration_ms, searches, iterations";

/// `target + delta` that saturates at the BIGINT bounds instead of overflowing (an error on
/// PostgreSQL, a float on SQLite): rollups fed by many clients must never fail or wrap.
/// Only the branch for `delta`'s sign is evaluated, so neither bound expression overflows.
pub(crate) fn saturating_add(target: &str, delta: &str) -> String {
    format!(
        "CASE WHEN {delta} >= 0 THEN (CASE WHEN {target} > 9223372036854775807 - {delta} \
         THEN 9223372036854775807 ELSE {target} + {delta} END) \
         ELSE (CASE WHEN {target} < -9223372036854775807 - {delta} THEN -9223372036854775807 \
         ELSE {target} + {delta} END) END"
    )
}

/// `SUM(expr)` that cannot overflow: the sums of its billions and of its remainders, as two
/// BIGINT columns that [`wide_sum`] reads back.
pub(crate) fn split_sum(expr: &str) -> String {
    format!(
        "CAST(COALESCE(SUM(({expr}) / 1000000000), 0) AS BIGINT), \
         CAST(COALESCE(SUM(({expr}) % 1000000000), 0) AS BIGINT)"
    )
}

/// A [`split_sum`] at `index`, saturated to i64.
pub(crate) fn wide_sum(row: &<DB as sqlx::Database>::Row, index: usize) -> sqlx::Result<i64> {
    let billions: i64 = row.try_get(index)?;
    let rest: i64 = row.try_get(index + 1)?;
    let sum = i128::from(billions) * 1_000_000_000 + i128::from(rest);
    Ok(i64::try_from(sum).unwrap_or(if sum > 0 { i64::MAX } else { i64::MIN }))
}

/// [`split_sum`] of every counter column.
pub(crate) fn counter_sums() -> String {
    COUNTER_COLUMNS
        .split(", ")
        .map(split_sum)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counters from the [`counter_sums`] columns starting at `offset`.
pub(crate) fn counters_from_sums(
    row: &<DB as sqlx::Database>::Row,
    offset: usize,
) -> sqlx::Result<Counters> {
    let at = |i: usize| wide_sum(row, offset + 2 * i);
    Ok(Counters {
        requests: at(0)?,
        successes: at(1)?,
        failures: at(2)?,
        unpriced: at(3)?,
        input_tokens: at(4)?,
        cached_input_tokens: at(5)?,
        cache_write_tokens: at(6)?,
        output_tokens: at(7)?,
        reasoning_tokens: at(8)?,
        cost_nanos: at(9)?,
        duration_ms: at(10)?,
        searches: at(11)?,
        iterations: at(12)?,
    })
}

pub(crate) fn counters_from_row(
    row: &<DB as sqlx::Database>::Row,
    offset: usize,
) -> sqlx::Result<Counters> {
    Ok(Counters {
        requests: row.try_get(offset)?,
        successes: row.try_get(offset + 1)?,
        failures: row.try_get(offset + 2)?,
        unpriced: row.try_get(offset + 3)?,
        input_tokens: row.try_get(offset + 4)?,
        cached_input_tokens: row.try_get(offset + 5)?,
        cache_write_tokens: row.try_get(offset + 6)?,
        output_tokens: row.try_get(offset + 7)?,
        reasoning_tokens: row.try_get(offset + 8)?,
        cost_nanos: row.try_get(offset + 9)?,
        duration_ms: row.try_get(offset + 10)?,
        searches: row.try_get(offset + 11)?,
        iterations: row.try_get(offset + 12)?,
    })
}

pub(crate) async fn add_counters(
    tx: &mut Tx<'_>,
    table: &str,
    rows: &HashMap<(Micros, String, String), Counters>,
) -> sqlx::Result<()> {
    // Rows are locked in the order written: in key order, transactions that share rows
    // (PostgreSQL's writers, a repricing step) wait for each other but never in a cycle.
    let mut rows: Vec<_> = rows.iter().collect();
    rows.sort_unstable_by_key(|((bucket, domain, model), _)| (domain, *bucket, model));
    let updates = COUNTER_COLUMNS
        .split(", ")
        .map(|c| {
            format!(
                "{c} = {}",
                saturating_add(&format!("{table}.{c}"), &format!("excluded.{c}"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO {table} (bucket, domain, model, {COUNTER_COLUMNS}) "
        ));
        q.push_values(chunk, |mut b, ((bucket, domain, model), c)| {
            b.push_bind(*bucket)
                .push_bind(domain.clone())
                .push_bind(model.clone())
                .push_bind(c.requests)
                .push_bind(c.successes)
                .push_bind(c.failures)
                .push_bind(c.unpriced)
                .push_bind(c.input_tokens)
                .push_bind(c.cached_input_tokens)
                .push_bind(c.cache_write_tokens)
                .push_bind(c.output_tokens)
                .push_bind(c.reasoning_tokens)
                .push_bind(c.cost_nanos)
                .push_bind(c.duration_ms)
                .push_bind(c.searches)
                .push_bind(c.iterations);
        });
        q.push(format!(
            " ON CONFLICT (domain, bucket, model) DO UPDATE SET {updates}"
        ));
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn add_rollups(tx: &mut Tx<'_>, delta: &RollupDelta) -> sqlx::Result<()> {
    add_counters(tx, "rollup_hourly", &delta.hourly).await?;
    add_counters(tx, "rollup_daily", &delta.daily).await?;
    for (table, rows) in [
        ("duration_rollup_hourly", &delta.durations_hourly),
        ("duration_rollup_daily", &delta.durations_daily),
    ] {
        let mut rows: Vec<_> = rows.iter().collect();
        rows.sort_unstable_by_key(|((bucket, domain, le), _)| (domain, *bucket, *le));
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<DB>::new(format!(
                "INSERT INTO {table} (bucket, domain, le_index, count) "
            ));
            q.push_values(chunk, |mut b, ((bucket, domain, le_index), count)| {
                b.push_bind(*bucket)
                    .push_bind(domain.clone())
                    .push_bind(*le_index)
                    .push_bind(**count);
            });
            q.push(format!(" ON CONFLICT (domain, bucket, le_index) DO UPDATE SET count = {table}.count + excluded.count"));
            q.build()
                .persistent(chunk.len() == CHUNK)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Pushes the window's rows of the rollups `{prefix}_hourly` and `{prefix}_daily`, joined
/// by UNION ALL: whole days from the daily rollup, the edges from the hourly one. Each part
/// selects `columns(granularity)` where the bucket is in range and `filter` holds.
pub(crate) fn push_window_rows(
    q: &mut QueryBuilder<'static, DB>,
    prefix: &str,
    window: &Window,
    columns: impl Fn(&str) -> String,
    filter: impl Fn(&mut QueryBuilder<'static, DB>),
) {
    let split = window.split_days();
    let mut first = true;
    for (granularity, (start, end)) in [
        ("hourly", split.head),
        ("hourly", split.tail),
        ("daily", split.days),
    ] {
        if start >= end {
            continue;
        }
        if !first {
            q.push(" UNION ALL ");
        }
        first = false;
        q.push(format!(
            "SELECT {} FROM {prefix}_{granularity} WHERE bucket >= ",
            columns(granularity)
        ));
        q.push_bind(start)
            .push(" AND bucket < ")
            .push_bind(end)
            .push(" AND ");
        filter(q);
    }
}

/// `SELECT {select} FROM (the window's rollup rows of `scope`) r {tail}`.
pub(crate) fn rollup_window_query(
    prefix: &str,
    columns: &str,
    select: &str,
    tail: &str,
    window: &Window,
    scope: &str,
) -> QueryBuilder<'static, DB> {
    let mut q = QueryBuilder::<DB>::new(format!("SELECT {select} FROM ("));
    let scope = scope.to_string();
    push_window_rows(
        &mut q,
        prefix,
        window,
        |_| columns.to_string(),
        |q| {
            q.push("domain = ").push_bind(scope.clone());
        },
    );
    q.push(format!(") r {tail}"));
    q
}

/// [`split_sum`] of each column; column i is read with `wide_sum(row, 2 * i)`.
pub(crate) fn sums(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| split_sum(c))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn window_ranges(window: &Window) -> [(&'static str, Micros, Micros); 3] {
    let split = window.split_days();
    [
        ("rollup_hourly", split.head.0, split.head.1),
        ("rollup_hourly", split.tail.0, split.tail.1),
        ("rollup_daily", split.days.0, split.days.1),
    ]
}

/// Rollup sums of a window: whole days from daily rollups, the edges from hourly ones. For
/// all domains (`domain` empty) it reads the all-domains rows (totals and per model; the
/// per-domain totals come from [`domain_totals`]); for one domain, that domain's rows.
pub async fn window_groups(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    model: Option<&str>,
) -> sqlx::Result<Vec<(String, String, Counters)>> {
    let mut q = QueryBuilder::<DB>::new(format!("SELECT domain, model, {} FROM (", counter_sums()));
    // Each filter reads a contiguous run of the key (domain, bucket, model) or of the
    // totals index (bucket, domain) where model = ''.
    let filters: Vec<(&str, Vec<String>)> = match (domain, model) {
        // The per-domain totals are read apart, by `domain_totals`.
        ("", None) => vec![("domain = ''", vec![])],
        (d, None) => vec![("domain = ", vec![d.to_string()])],
        // One model across domains: every domain's row of that model.
        ("", Some(m)) => vec![("model = ", vec![m.to_string()])],
        (d, Some(m)) => vec![(
            "domain = | AND model = ",
            vec![d.to_string(), m.to_string()],
        )],
    };
    let mut first = true;
    for (table, start, end) in window_ranges(window) {
        if start >= end {
            continue;
        }
        for filter in &filters {
            if !first {
                q.push(" UNION ALL ");
            }
            first = false;
            q.push(format!(
                "SELECT domain, model, {COUNTER_COLUMNS} FROM {table} WHERE bucket >= "
            ));
            q.push_bind(start)
                .push(" AND bucket < ")
                .push_bind(end)
                .push(" AND ");
            let (text, binds) = filter;
            for (i, part) in text.split('|').enumerate() {
                q.push(part);
                if let Some(value) = binds.get(i) {
                    q.push_bind(value.clone());
                }
            }
        }
    }
    q.push(") r GROUP BY domain, model");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                counters_from_sums(row, 2)?,
            ))
        })
        .collect()
}

/// Every domain's totals over a window, with the counters the domain breakdown shows —
/// requests, unpriced requests and cost — and the others zero. Read apart from the
/// all-domains rows so that summing fifty domains' rows costs three sums, not thirteen.
pub async fn domain_totals(
    pool: &Pool<DB>,
    window: &Window,
) -> sqlx::Result<Vec<(String, String, Counters)>> {
    let mut q = QueryBuilder::<DB>::new(format!(
        "SELECT domain, {} FROM (",
        sums(&["requests", "unpriced", "cost_nanos"])
    ));
    push_window_rows(
        &mut q,
        "rollup",
        window,
        |_| "domain, requests, unpriced, cost_nanos".to_string(),
        |q| {
            q.push("model = '' AND domain <> ''");
        },
    );
    q.push(") r GROUP BY domain");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let counters = Counters {
                requests: wide_sum(row, 1)?,
                unpriced: wide_sum(row, 3)?,
                cost_nanos: wide_sum(row, 5)?,
                ..Counters::default()
            };
            Ok((row.try_get(0)?, String::new(), counters))
        })
        .collect()
}

/// The spec's approach, kept as a benchmark reference: sum the raw rows of the window.
pub async fn naive_window_sums(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<Vec<(String, String, Counters)>> {
    let sums = [
        "1",
        "CASE WHEN success THEN 1 ELSE 0 END",
        "CASE WHEN success THEN 0 ELSE 1 END",
        "CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "COALESCE(cost_nanos, 0)",
        "duration_ms",
        "search_count",
        "iterations",
    ]
    .map(split_sum)
    .join(", ");
    let rows = sqlx::query(&format!(
        "SELECT domain, model, {sums} \
         FROM chat_telemetry WHERE start_time >= $1 AND start_time < $2 AND end_time IS NOT NULL \
         AND ($3 = '' OR domain = $3) GROUP BY domain, model"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                counters_from_sums(row, 2)?,
            ))
        })
        .collect()
}

/// Requests and cost per hour of the window (hours without sessions are absent), for all
/// models or one (`model` empty = all).
pub async fn trend(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    model: &str,
) -> sqlx::Result<Vec<(Micros, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT bucket, requests, cost_nanos FROM rollup_hourly \
         WHERE domain = $1 AND model = $4 AND bucket >= $2 AND bucket < $3 ORDER BY bucket",
    )
    .bind(domain)
    .bind(window.start)
    .bind(window.end)
    .bind(model)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

pub async fn first_session_hour(pool: &Pool<DB>, domain: &str) -> sqlx::Result<Option<Micros>> {
    sqlx::query_scalar("SELECT MIN(bucket) FROM rollup_hourly WHERE domain = $1 AND model = ''")
        .bind(domain)
        .fetch_one(pool)
        .await
}

/// Domains with sessions since `since`, and configured ones: the dashboard's domain picker.
/// `domain || ''` keeps SQLite on the totals index: on the bare column it walks the whole
/// table in key order to skip the sort (5–7 ms at 10M sessions, against 2.5).
pub async fn known_domains(pool: &Pool<DB>, since: Micros) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT domain || '' FROM rollup_daily WHERE bucket >= $1 AND model = '' AND domain <> '' \
         UNION SELECT domain FROM domain_config ORDER BY 1 LIMIT 1000",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Priced cost of ended sessions that started in [start, end), from hourly rollups.
pub async fn cost_between(
    pool: &Pool<DB>,
    start: Micros,
    end: Micros,
    domain: &str,
) -> sqlx::Result<i64> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM rollup_hourly WHERE domain = $1 AND model = '' AND bucket >= $2 AND bucket < $3",
        split_sum("cost_nanos")
    ))
    .bind(domain)
    .bind(start)
    .bind(end)
    .fetch_one(pool)
    .await?;
    wide_sum(&row, 0)
}

/// Ended sessions of the window per response-time bucket, from the duration rollups.
pub async fn duration_histogram(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<[i64; DURATION_BUCKETS]> {
    let mut q = rollup_window_query(
        "duration_rollup",
        "le_index, count",
        "le_index, CAST(SUM(count) AS BIGINT)",
        "GROUP BY le_index",
        window,
        scope,
    );
    histogram_from_rows(&q.build().fetch_all(pool).await?)
}

/// The same from raw sessions (for tests).
pub async fn raw_duration_histogram(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<[i64; DURATION_BUCKETS]> {
    let cases: String = DURATION_BOUNDS_MS
        .iter()
        .enumerate()
        .map(|(i, bound)| format!("WHEN (end_time - start_time) / 1000 <= {bound} THEN {i} "))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT CAST(CASE {cases}ELSE {} END AS BIGINT) AS le, CAST(COUNT(*) AS BIGINT) FROM chat_telemetry \
         WHERE end_time IS NOT NULL AND start_time >= $1 AND start_time < $2 AND ($3 = '' OR domain = $3) GROUP BY le",
        DURATION_BOUNDS_MS.len()
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    histogram_from_rows(&rows)
}

pub(crate) fn histogram_from_rows(
    rows: &[<DB as sqlx::Database>::Row],
) -> sqlx::Result<[i64; DURATION_BUCKETS]> {
    let mut counts = [0; DURATION_BUCKETS];
    for row in rows {
        let index: i64 = row.try_get(0)?;
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| counts.get_mut(i)) {
            *slot += row.try_get::<i64, _>(1)?;
        }
    }
    Ok(counts)
}
