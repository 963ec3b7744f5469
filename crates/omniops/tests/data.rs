//! The data commands as a user runs them: `omniops import` from the spec's own tables into
//! a data directory, `backup`, and `restore` into another, read back with `export`.

use std::path::Path;
use std::process::{Command, Output};

fn omniops(args: &[&str], data_dir: &Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_omniops"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("OMNIOPS_DATABASE_URL")
        .output()
        .expect("run omniops");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn import_backup_restore_from_the_command_line() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.expect("source");
    // The spec's tables, one session: gpt-4, 1,000 × $30 + 500 × $60 per million = $0.06,
    // stored by the spec's trigger as $0.05.
    let start = (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
    sqlx::raw_sql(&format!(
        "CREATE TABLE chat_telemetry (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), \
         session_id TEXT, model TEXT, start_time TIMESTAMPTZ, duration_ms INTEGER, \
         input_tokens INTEGER, output_tokens INTEGER, cost_usd NUMERIC(10,6), success BOOLEAN, \
         domain TEXT, created_at TIMESTAMPTZ DEFAULT now()); \
         CREATE TABLE conversations (id UUID PRIMARY KEY, created_at TIMESTAMPTZ, metadata JSONB); \
         CREATE TABLE messages (id UUID PRIMARY KEY, conversation_id UUID, role TEXT, \
         content TEXT, created_at TIMESTAMPTZ); \
         CREATE TABLE structured_extractions (id UUID PRIMARY KEY, extraction_type TEXT, \
         data JSONB, domain TEXT); \
         CREATE TABLE scraped_pages (id UUID PRIMARY KEY, url TEXT, domain TEXT, content TEXT, \
         scraped_at TIMESTAMPTZ); \
         CREATE TABLE page_embeddings (id UUID PRIMARY KEY, page_id UUID, chunk_index INTEGER, \
         embedding REAL[], content_preview TEXT); \
         INSERT INTO chat_telemetry (session_id, model, start_time, duration_ms, input_tokens, \
         output_tokens, cost_usd, success, domain) VALUES \
         ('x1', 'gpt-4', '{start}', 1000, 1000, 500, 0.05, true, 'shop.example');"
    ))
    .execute(&pool)
    .await
    .expect("source tables");
    pool.close().await;

    let first = tempfile::tempdir().expect("dir");
    let output = omniops(&["import", "--from", &url, "--json"], first.path());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["tables"][0]["imported"], 1, "{report}");
    assert_eq!(
        (
            &report["costAudit"]["differing"],
            &report["costAudit"]["differenceUsd"]
        ),
        (&serde_json::json!(1), &serde_json::json!("0.010000000"))
    );

    let backups = tempfile::tempdir().expect("dir");
    let file = backups.path().join("omniops.backup");
    let file_arg = file.to_str().expect("path");
    omniops(&["backup", "--output", file_arg], first.path());
    let second = tempfile::tempdir().expect("dir");
    omniops(&["restore", file_arg], second.path());
    let output = omniops(&["export", "models", "--days", "1"], second.path());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "costUsd,model,percentage,requests,tokens,unpriced\r\n0.0600,gpt-4,100.0,1,1500,false\r\n"
    );
    omniops_testkit::drop_database(&admin, &name).await;
}
