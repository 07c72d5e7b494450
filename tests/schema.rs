//! The committed JSON Schema stays in sync with the policy model.
//! `UPDATE_GOLDEN=1 cargo test --test schema` rewrites it.

#[test]
fn committed_schema_matches_the_model() {
    let current = drctl::policy::json_schema() + "\n";
    let path = "schema/drctl-v1.json";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == current, "{path} is stale: run `drctl schema > {path}` (or UPDATE_GOLDEN=1 cargo test --test schema)");
}
