//! The committed JSON Schemas stay in sync with the models.
//! `UPDATE_GOLDEN=1 cargo test --test schema` rewrites them.

fn matches_committed(current: String, path: &str, command: &str) {
    let current = current + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == current, "{path} is stale: run `{command} > {path}` (or UPDATE_GOLDEN=1 cargo test --test schema)");
}

#[test]
fn committed_schema_matches_the_model() {
    matches_committed(drctl::policy::json_schema(), "schema/drctl-v1.json", "drctl schema");
}

#[test]
fn committed_guardrails_schema_matches_the_model() {
    matches_committed(drctl::policy::guardrails::json_schema(), "schema/drctl-guardrails-v1.json", "drctl schema --kind guardrails");
}

#[test]
fn committed_accounts_schema_matches_the_model() {
    matches_committed(drctl::policy::accounts::json_schema(), "schema/drctl-accounts-v1.json", "drctl schema --kind accounts");
}
