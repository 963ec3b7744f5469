// Prices, and recomputing stored costs and rollups when one changes.

fn price_from_row(row: &<DB as sqlx::Database>::Row) -> Result<PriceEntry, String> {
    let get = |name: &str| -> Result<Option<String>, String> { row.try_get(name).map_err(|e| e.to_string()) };
    let dec = |name: &str| -> Result<Option<rust_decimal::Decimal>, String> {
        get(name)?.map(|t| t.parse().map_err(|e| format!("{name}: {e}"))).transpose()
    };
    let required = |v: Option<rust_decimal::Decimal>, name: &str| v.ok_or_else(|| format!("{name} missing"));
    let effective = get("effective_from")?.unwrap_or_default();
    Ok(PriceEntry {
        model: get("model")?.unwrap_or_default(),
        aliases: serde_json::from_str(&get("aliases")?.unwrap_or_default()).unwrap_or_default(),
        pattern: get("pattern")?,
        input: required(dec("input")?, "input")?,
        cached_input: dec("cached_input")?,
        cache_write: dec("cache_write")?,
        output: required(dec("output")?, "output")?,
        reasoning: dec("reasoning")?,
        effective_from: chrono::NaiveDate::parse_from_str(&effective, "%Y-%m-%d").map_err(|e| e.to_string())?,
        source: get("source")?.unwrap_or_default(),
    })
}

const PRICE_COLUMNS: &str =
    "model, effective_from, aliases, pattern, input, cached_input, cache_write, output, reasoning, source, updated_at";

async fn load_prices_with<'e, E>(executor: E) -> anyhow::Result<Vec<PriceEntry>>
where
    E: sqlx::Executor<'e, Database = DB>,
{
    let rows = sqlx::query(&format!("SELECT {PRICE_COLUMNS} FROM model_prices ORDER BY model, effective_from"))
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|r| price_from_row(r).map_err(|e| anyhow::anyhow!("bad stored price: {e}")))
        .collect()
}

pub async fn load_prices(pool: &Pool<DB>) -> anyhow::Result<Vec<PriceEntry>> {
    load_prices_with(pool).await
}

fn price_insert(entry: &PriceEntry, now: Micros) -> QueryBuilder<'static, DB> {
    let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO model_prices ({PRICE_COLUMNS}) "));
    let text = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    let entry = entry.clone();
    q.push_values([entry], |mut b, e| {
        b.push_bind(e.model.clone())
            .push_bind(e.effective_from.format("%Y-%m-%d").to_string())
            .push_bind(serde_json::to_string(&e.aliases).unwrap_or_else(|_| "[]".into()))
            .push_bind(e.pattern.clone())
            .push_bind(e.input.to_string())
            .push_bind(text(e.cached_input))
            .push_bind(text(e.cache_write))
            .push_bind(e.output.to_string())
            .push_bind(text(e.reasoning))
            .push_bind(e.source.clone())
            .push_bind(now);
    });
    q
}

pub async fn seed_prices(pool: &Pool<DB>, entries: &[PriceEntry], now: Micros) -> sqlx::Result<()> {
    let mut tx = begin_write(pool).await?;
    for entry in entries {
        let mut q = price_insert(entry, now);
        q.push(" ON CONFLICT (model, effective_from) DO NOTHING");
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Adds or replaces a price entry and, in the same transaction, recomputes the cost of
/// every stored session and rollup bucket it prices from its effective date on. Buckets
/// whose raw sessions are still kept (start at or after `raw_since`) are rebuilt from the
/// sessions; older ones are priced from their token sums.
pub async fn put_price(pool: &Pool<DB>, entry: &PriceEntry, raw_since: Micros, now: Micros) -> anyhow::Result<RecomputeReport> {
    let mut tx = begin_write(pool).await?;
    let mut q = price_insert(entry, now);
    q.push(
        " ON CONFLICT (model, effective_from) DO UPDATE SET aliases = excluded.aliases, \
         pattern = excluded.pattern, input = excluded.input, cached_input = excluded.cached_input, \
         cache_write = excluded.cache_write, output = excluded.output, reasoning = excluded.reasoning, \
         source = excluded.source, updated_at = excluded.updated_at",
    );
    q.build().execute(&mut *tx).await?;
    let table = PriceTable::new(load_prices_with(&mut *tx).await?);
    let from = entry.effective_from_micros();
    let raw_since = floor_hour(raw_since);

    let models: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT model FROM rollup_hourly WHERE bucket >= $1 AND model <> '' \
         UNION SELECT DISTINCT model FROM chat_telemetry WHERE start_time >= $1",
    )
    .bind(from)
    .fetch_all(&mut *tx)
    .await?;
    let mut report = RecomputeReport::default();
    for model in models.iter().filter(|m| PriceTable::entry_matches(entry, m)) {
        report.models.push(model.clone());
        recompute_model(&mut tx, &table, model, from, raw_since, &mut report).await?;
    }
    tx.commit().await?;
    Ok(report)
}

async fn recompute_model(
    tx: &mut Tx<'_>,
    table: &PriceTable,
    model: &str,
    from: Micros,
    raw_since: Micros,
    report: &mut RecomputeReport,
) -> anyhow::Result<()> {
    // 1. Raw sessions, and the rebuilt (cost, unpriced) of each kept hour bucket.
    let rows = sqlx::query(
        "SELECT id, domain, start_time, end_time, cost_nanos, input_tokens, cached_input_tokens, \
         cache_write_tokens, output_tokens, reasoning_tokens FROM chat_telemetry \
         WHERE model = $1 AND start_time >= $2",
    )
    .bind(model)
    .bind(from)
    .fetch_all(&mut **tx)
    .await?;
    let mut rebuilt: HashMap<(Micros, String), (i64, i64)> = HashMap::new();
    for row in &rows {
        let start: Micros = row.try_get(2)?;
        let usage = TokenUsage {
            input: row.try_get(5)?,
            cached_input: row.try_get(6)?,
            cache_write: row.try_get(7)?,
            output: row.try_get(8)?,
            reasoning: row.try_get(9)?,
        };
        let cost = table.lookup(model, start).map(|e| e.cost_nanos(&usage));
        let old: Option<i64> = row.try_get(4)?;
        if cost != old {
            let id: String = row.try_get(0)?;
            sqlx::query("UPDATE chat_telemetry SET cost_nanos = $1 WHERE id = $2")
                .bind(cost)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            report.sessions += 1;
        }
        let ended: Option<Micros> = row.try_get(3)?;
        if ended.is_some() {
            let bucket = rebuilt.entry((floor_hour(start), row.try_get(1)?)).or_default();
            bucket.0 += cost.unwrap_or(0);
            bucket.1 += i64::from(cost.is_none());
        }
    }

    // 2. Hourly buckets: rebuilt where raw rows are kept, priced from token sums before.
    let buckets = sqlx::query(&format!(
        "SELECT bucket, domain, {COUNTER_COLUMNS} FROM rollup_hourly WHERE model = $1 AND domain <> '' AND bucket >= $2"
    ))
    .bind(model)
    .bind(floor_hour(from))
    .fetch_all(&mut **tx)
    .await?;
    for row in &buckets {
        let bucket: Micros = row.try_get(0)?;
        let domain: String = row.try_get(1)?;
        let c = counters_from_row(row, 2)?;
        let (cost, unpriced) = if bucket >= raw_since {
            rebuilt.get(&(bucket, domain.clone())).copied().unwrap_or((0, 0))
        } else {
            let usage = TokenUsage {
                input: c.input_tokens,
                cached_input: c.cached_input_tokens,
                cache_write: c.cache_write_tokens,
                output: c.output_tokens,
                reasoning: c.reasoning_tokens,
            };
            match table.lookup(model, bucket) {
                Some(e) => (e.cost_nanos(&usage), 0),
                None => (0, c.requests),
            }
        };
        if (cost, unpriced) != (c.cost_nanos, c.unpriced) {
            sqlx::query(
                "UPDATE rollup_hourly SET cost_nanos = $1, unpriced = $2 \
                 WHERE bucket = $3 AND domain = $4 AND model = $5",
            )
            .bind(cost)
            .bind(unpriced)
            .bind(bucket)
            .bind(&domain)
            .bind(model)
            .execute(&mut **tx)
            .await?;
            report.buckets += 1;
        }
    }

    // 3. Daily rollups are sums of hourly ones: rebuild the model's days from its hours.
    sqlx::query(
        "UPDATE rollup_daily SET \
         cost_nanos = (SELECT COALESCE(CAST(SUM(h.cost_nanos) AS BIGINT), 0) FROM rollup_hourly h \
           WHERE h.model = rollup_daily.model AND h.domain = rollup_daily.domain \
           AND h.bucket >= rollup_daily.bucket AND h.bucket < rollup_daily.bucket + $3), \
         unpriced = (SELECT COALESCE(CAST(SUM(h.unpriced) AS BIGINT), 0) FROM rollup_hourly h \
           WHERE h.model = rollup_daily.model AND h.domain = rollup_daily.domain \
           AND h.bucket >= rollup_daily.bucket AND h.bucket < rollup_daily.bucket + $3) \
         WHERE model = $1 AND domain <> '' AND bucket >= $2",
    )
    .bind(model)
    .bind(floor_day(from))
    .bind(MICROS_PER_DAY)
    .execute(&mut **tx)
    .await?;
    // 4. The all-domains and all-models rows of the touched buckets, from the pair rows.
    for (table, start) in [("rollup_hourly", floor_hour(from)), ("rollup_daily", floor_day(from))] {
        let pair_sum = |column: &str| {
            format!(
                "(SELECT COALESCE(CAST(SUM(p.{column}) AS BIGINT), 0) FROM {table} p \
                 WHERE p.bucket = {table}.bucket AND p.domain <> '' AND p.model <> '' \
                 AND ({table}.domain = '' OR p.domain = {table}.domain) \
                 AND ({table}.model = '' OR p.model = {table}.model))"
            )
        };
        sqlx::query(&format!(
            "UPDATE {table} SET cost_nanos = {}, unpriced = {} \
             WHERE (domain = '' OR model = '') AND bucket >= $2 \
             AND bucket IN (SELECT bucket FROM {table} WHERE model = $1 AND domain = '' AND bucket >= $2)",
            pair_sum("cost_nanos"),
            pair_sum("unpriced")
        ))
        .bind(model)
        .bind(start)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub async fn unpriced_models(pool: &Pool<DB>) -> sqlx::Result<Vec<UnpricedModel>> {
    let rows = sqlx::query(
        "SELECT model, CAST(SUM(unpriced) AS BIGINT), MAX(bucket) FROM rollup_daily \
         WHERE unpriced > 0 AND domain = '' AND model <> '' GROUP BY model \
         UNION ALL SELECT model, CAST(COUNT(*) AS BIGINT), MAX(start_time) FROM chat_telemetry \
         WHERE end_time IS NULL AND cost_nanos IS NULL GROUP BY model",
    )
    .fetch_all(pool)
    .await?;
    let mut by_model: HashMap<String, UnpricedModel> = HashMap::new();
    for row in &rows {
        let model: String = row.try_get(0)?;
        let sessions: i64 = row.try_get(1)?;
        let last: Micros = row.try_get(2)?;
        let entry = by_model.entry(model.clone()).or_insert(UnpricedModel { model, sessions: 0, last_seen: last });
        entry.sessions += sessions;
        entry.last_seen = entry.last_seen.max(last);
    }
    let mut models: Vec<_> = by_model.into_values().collect();
    models.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.model.cmp(&b.model)));
    Ok(models)
}
