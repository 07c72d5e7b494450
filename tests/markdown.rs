//! What a pull request shows, rendered as GitHub renders it (GFM with its
//! autolink extension, by comrak): names and free text from a policy never
//! become links, and invisible bidi characters are shown, not obeyed.

mod support;

use drctl::policy::{self, Checked, Input};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");

fn checked(yaml: &str) -> Checked {
    let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.as_bytes().to_vec()) }]);
    assert!(checked.findings.is_empty(), "{:?}", checked.findings);
    checked
}

/// HTML as GitHub makes it of a comment or step summary.
fn github_html(markdown: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.autolink = true;
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.tasklist = true;
    options.render.r#unsafe = true; // GitHub keeps <details>; what drctl escapes must stay escaped anyway
    comrak::markdown_to_html(markdown, &options)
}

/// A policy whose table and owner read like links, the owner with a
/// right-to-left override hiding in it.
fn hostile() -> String {
    SCANS
        .replace("table: SpatialScans", "table: www.example.com")
        .replace("owner: team-3d", "owner: \"https://example.com/\u{202E}fdp.exe\"")
}

#[test]
fn the_renderer_links_what_github_links() {
    // Proves the check below can fail: plain text with these names links.
    let html = github_html("www.example.com and https://example.com and a@example.com");
    assert_eq!(html.matches("<a ").count(), 3, "{html}");
}

#[tokio::test]
async fn a_plan_for_a_table_named_like_a_url_has_no_link() {
    let account = support::account().await;
    let desired = checked(&hostile());
    let options = drctl::plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = drctl::plan::plan(&account.aws, &desired, &options).await;
    let markdown = drctl::plan::format::markdown(&plan);
    assert!(markdown.contains("www"), "the table is named in the plan: {markdown}");
    let html = github_html(&markdown);
    assert!(!html.contains("<a "), "{html}");
    assert!(html.contains("www.example.com"), "shown as text: {html}");
}

#[test]
fn a_status_with_a_url_owner_and_a_bidi_override_has_no_link_and_shows_the_override() {
    let desired = checked(&hostile());
    let policy = &desired.policies[0].policy;
    let inventory = drctl::status::inventory(&[(policy, "h1")], &[], 1_767_225_600);
    let markdown = drctl::status::markdown(&inventory);
    let html = github_html(&markdown);
    assert!(!html.contains("<a "), "{html}");
    assert!(!html.contains('\u{202E}') && !markdown.contains('\u{202E}'), "{markdown}");
    assert!(html.contains("https://example.com/&lt;U+202E&gt;fdp.exe"), "{html}");
    let text = drctl::status::text(&inventory, false);
    assert!(text.contains("https://example.com/<U+202E>fdp.exe") && !text.contains('\u{202E}'), "{text}");
}
