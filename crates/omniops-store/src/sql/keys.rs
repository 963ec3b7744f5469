// API keys and the dashboard's login sessions.

use super::ingest::begin_write;
use super::{DB, ROW_LOCKS};
use crate::ApiKeyRecord;
use crate::Scope;
use omniops_core::clock::Micros;
use sqlx::{Pool, Row};

pub(crate) fn key_from_row(row: &<DB as sqlx::Database>::Row) -> sqlx::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scope: {
            let text: String = row.try_get("scope")?;
            Scope::parse(&text)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown key scope {text:?}").into()))?
        },
        domain: row.try_get("domain")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub async fn insert_key(pool: &Pool<DB>, key: &ApiKeyRecord, hash: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, scope, domain, key_hash, prefix, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(key.scope.as_str())
    .bind(&key.domain)
    .bind(hash)
    .bind(&key.prefix)
    .bind(key.created_at)
    .execute(pool)
    .await
    .map(|_| ())
}

pub async fn list_keys(pool: &Pool<DB>) -> sqlx::Result<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, scope, domain, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(key_from_row).collect()
}

/// What revoking a key did.
pub enum Revocation {
    Revoked,
    /// No active key has that id.
    Unknown,
    /// It is the last active admin key not held to a domain: revoking it would leave the
    /// server without anyone who may manage keys (and, on loopback, open).
    LastAdmin,
}

pub async fn revoke_key(pool: &Pool<DB>, id: &str, now: Micros) -> sqlx::Result<Revocation> {
    let mut tx = begin_write(pool).await?;
    // The unscoped admin keys, locked: two instances revoking the last two at once see
    // each other's change (SQLite: one writer at a time).
    let lock = if ROW_LOCKS {
        " ORDER BY id FOR UPDATE"
    } else {
        ""
    };
    let admins: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM api_keys WHERE scope = 'admin' AND domain IS NULL AND revoked_at IS NULL{lock}"
    ))
    .fetch_all(&mut *tx)
    .await?;
    if admins.len() == 1 && admins[0] == id {
        return Ok(Revocation::LastAdmin);
    }
    let result =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(if result.rows_affected() > 0 {
        Revocation::Revoked
    } else {
        Revocation::Unknown
    })
}

pub async fn find_key(pool: &Pool<DB>, hash: &str) -> sqlx::Result<Option<ApiKeyRecord>> {
    let row = sqlx::query(
        "SELECT id, name, scope, domain, prefix, created_at, revoked_at FROM api_keys \
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub async fn count_active_keys(pool: &Pool<DB>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM api_keys WHERE revoked_at IS NULL")
        .fetch_one(pool)
        .await
}

pub async fn create_dashboard_session(
    pool: &Pool<DB>,
    token_hash: &str,
    key_id: &str,
    csrf_token: &str,
    now: Micros,
    expires_at: Micros,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO dashboard_sessions (token_hash, key_id, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(key_id)
    .bind(csrf_token)
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The key of a live session (its key not revoked) and the session's CSRF token.
pub async fn find_dashboard_session(
    pool: &Pool<DB>,
    token_hash: &str,
    now: Micros,
) -> sqlx::Result<Option<(ApiKeyRecord, String)>> {
    let row = sqlx::query(
        "SELECT k.id, k.name, k.scope, k.domain, k.prefix, k.created_at, k.revoked_at, s.csrf_token \
         FROM dashboard_sessions s JOIN api_keys k ON k.id = s.key_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Some((key_from_row(&row)?, row.try_get(7)?))),
        None => Ok(None),
    }
}

pub async fn delete_dashboard_session(pool: &Pool<DB>, token_hash: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}
