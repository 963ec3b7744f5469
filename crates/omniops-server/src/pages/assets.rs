//! Static files embedded in the binary, served under names that carry a hash of their
//! content, so browsers may cache them forever and a new release is fetched at once.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

struct Asset {
    /// The name pages link to: `stem-<hash>.ext`.
    name: String,
    content_type: &'static str,
    body: &'static [u8],
}

const FILES: [(&str, &str, &[u8]); 5] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/htmx/htmx.min.js"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.min.css"),
    ),
];

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(file, content_type, body)| {
                let hash = hex::encode(&Sha256::digest(body)[..5]);
                let (stem, ext) = file.split_once('.').unwrap_or((file, ""));
                Asset {
                    name: format!("{stem}-{hash}.{ext}"),
                    content_type,
                    body,
                }
            })
            .collect()
    })
}

/// The URL of an embedded file by its plain name (`app.css`).
pub fn url(file: &str) -> String {
    let position = FILES.iter().position(|(f, _, _)| *f == file);
    match position.and_then(|i| assets().get(i)) {
        Some(asset) => format!("/assets/{}", asset.name),
        None => format!("/assets/{file}"),
    }
}

/// `GET /assets/{name}`: immutable for a year (the name changes with the content).
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = assets().iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_a_content_hash() {
        let css = url("app.css");
        assert!(
            css.starts_with("/assets/app-") && css.ends_with(".css"),
            "{css}"
        );
        assert_eq!(css.len(), "/assets/app-".len() + 10 + ".css".len());
        assert_ne!(url("app.js"), url("app.css"));
    }
}
