// Customer domains and settings changed through the API.
use super::ingest::{begin_write, Tx};
use super::DB;
use crate::DomainConfig;
use omniops_core::clock::Micros;
use sqlx::{Pool, Row};

pub async fn list_domain_configs(pool: &Pool<DB>) -> sqlx::Result<Vec<DomainConfig>> {
    let rows = sqlx::query(
        "SELECT domain, woocommerce_url, woocommerce_enabled, consumer_key, consumer_secret FROM domain_config ORDER BY domain",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DomainConfig {
                domain: r.try_get(0)?,
                woocommerce_url: r.try_get(1)?,
                woocommerce_enabled: r.try_get(2)?,
                consumer_key: r.try_get(3)?,
                consumer_secret: r.try_get(4)?,
            })
        })
        .collect()
}

pub async fn put_domain_configs(
    pool: &Pool<DB>,
    configs: &[DomainConfig],
    removed: &[String],
    now: Micros,
) -> sqlx::Result<()> {
    let mut tx = begin_write(pool).await?;
    for c in configs {
        sqlx::query(
            "INSERT INTO domain_config (domain, woocommerce_url, woocommerce_enabled, consumer_key, consumer_secret, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain) DO UPDATE SET woocommerce_url = excluded.woocommerce_url, \
             woocommerce_enabled = excluded.woocommerce_enabled, consumer_key = excluded.consumer_key, \
             consumer_secret = excluded.consumer_secret, updated_at = excluded.updated_at",
        )
        .bind(&c.domain)
        .bind(&c.woocommerce_url)
        .bind(c.woocommerce_enabled)
        .bind(&c.consumer_key)
        .bind(&c.consumer_secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for domain in removed {
        sqlx::query("DELETE FROM domain_config WHERE domain = $1")
            .bind(domain)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

pub async fn get_setting(pool: &Pool<DB>, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM app_settings WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
}

pub async fn put_setting(pool: &Pool<DB>, key: &str, value: &str) -> sqlx::Result<()> {
    let mut tx = begin_write(pool).await?;
    put_setting_in(&mut tx, key, value).await?;
    tx.commit().await
}

pub async fn delete_setting(pool: &Pool<DB>, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM app_settings WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map(drop)
}

pub(crate) async fn put_setting_in(tx: &mut Tx<'_>, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO app_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut **tx)
        .await
        .map(drop)
}
