//! Sends one chat session to a running Omniops:
//! `cargo run -p omniops-client --example chat -- http://127.0.0.1:8080 [API_KEY]`

use omniops_client::{Config, Omniops};
use serde_json::json;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
    let mut config = Config::new(endpoint);
    if let Some(key) = args.next() {
        config = config.api_key(key);
    }
    let omniops = Omniops::new(config);
    let chat = omniops.create_session(
        &format!("example-{}", std::process::id()),
        "gpt-4o",
        "shop.example",
    );
    chat.track_iteration();
    chat.track_search("hydraulic pumps", 3);
    chat.track_token_usage(json!({"prompt_tokens": 2000, "completion_tokens": 100,
                                   "prompt_tokens_details": {"cached_tokens": 1500}}));
    chat.complete(true, None);
    omniops.flush().await;
    println!("sent one session ({} events dropped)", omniops.dropped());
    omniops.shutdown().await;
}
