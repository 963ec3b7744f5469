//! Every section a page shell asks for is a declared `Section`, and loads.

use crate::common::TestApp;
use crate::http_test;
use omniops_server::pages::Section;

const PAGES: [&str; 6] = [
    "/dashboard",
    "/dashboard/analytics",
    "/dashboard/costs",
    "/dashboard/sessions",
    "/dashboard/products",
    "/dashboard/settings",
];

async fn every_shell_section_is_declared_and_loads(app: &TestApp) {
    let mut seen = Vec::new();
    for page in PAGES {
        let html = app
            .client
            .get(app.url(page))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        for rest in html.split("/dashboard/partials/").skip(1) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            let section =
                Section::parse(&name).unwrap_or_else(|| panic!("{page} asks for `{name}`"));
            if !seen.contains(&section) {
                seen.push(section);
            }
        }
    }
    // The analytics tabs' sections are asked for one at a time; the session details by row.
    assert!(seen.len() >= 20, "{seen:?}");
    for section in seen {
        let path = format!("/dashboard/partials/{}?days=7", section.name());
        let response = app.client.get(app.url(&path)).send().await.expect("GET");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let text = response.text().await.expect("html");
        assert!(!text.contains("section-error"), "{path}: {text}");
    }
}
http_test!(shell_sections, every_shell_section_is_declared_and_loads);
