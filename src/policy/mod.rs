//! The policy language: `desired/*.yaml` files, `apiVersion: drctl/v1`,
//! `kind: TablePolicy`.
//!
//! Pure: bytes in, typed policies and findings out. No git, no AWS.
//!
//! # Guarantees
//! - Never panics and never hangs on any input; hostile YAML (alias bombs,
//!   deep nesting, huge files) is refused before it is deserialised.
//! - One call reports every finding of every file, not just the first.

pub mod accounts;
pub mod duration;
pub mod finding;
pub mod guardrails;
pub mod load;
pub mod model;
pub mod names;
pub mod schedule;
pub mod spans;
pub mod validate;

pub use duration::Duration;
pub use finding::{Finding, Position, Severity};
pub use load::{LoadedPolicy, MAX_FILE_BYTES, load};
pub use model::TablePolicy;
pub use schedule::Schedule;

use sha2::{Digest, Sha256};

/// The outcome of checking a set of policy files.
#[derive(Debug, Default)]
pub struct Checked {
    /// Policies that parsed, valid or not (see `findings`).
    pub policies: Vec<LoadedPolicy>,
    /// `desired/_guardrails.yaml`, when the revision has one and it parsed.
    pub guardrails: Option<guardrails::LoadedGuardrails>,
    /// `desired/_accounts.yaml`, when the revision has one and it parsed.
    pub accounts: Option<accounts::LoadedAccounts>,
    /// Every finding, sorted by file and position.
    pub findings: Vec<Finding>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }

    /// The account `id` as the accounts file declares it.
    pub fn account(&self, id: &str) -> Option<&accounts::Account> {
        self.accounts.as_ref()?.get(id)
    }

    /// The account drctl reaches `account` (a policy's `spec.account`)
    /// through by a role: its id, or `None` for drctl's own account (no
    /// account, or one declared without a role). Every stage groups by it.
    pub fn reached_by_role(&self, account: Option<&str>) -> Option<&str> {
        account.and_then(|id| self.account(id)).filter(|a| a.role.is_some()).map(|a| a.id.as_str())
    }

    /// [`Checked::reached_by_role`] of every valid policy, by name: one pass,
    /// for stages that ask it of many stacks or records.
    pub fn roles_by_policy(&self) -> std::collections::BTreeMap<&str, Option<&str>> {
        self.valid().map(|p| (p.policy.metadata.name.as_str(), self.reached_by_role(p.policy.spec.account.as_deref()))).collect()
    }

    /// Policies with no error finding: the ones later stages may act on.
    pub fn valid(&self) -> impl Iterator<Item = &LoadedPolicy> {
        self.policies.iter().filter(|p| !self.findings.iter().any(|f| f.is_error() && f.file == p.file))
    }
}

/// One input file: its repository-relative path and content, or the reason
/// its content was not read.
pub struct Input {
    pub file: String,
    pub content: Result<Vec<u8>, Finding>,
}

/// Loads and validates every file, then the set as a whole.
pub fn check(inputs: impl IntoIterator<Item = Input>) -> Checked {
    check_on(inputs, guardrails::today())
}

/// [`check`] as of `today` (UTC days since 1970), the day guardrail
/// exceptions are judged on.
pub fn check_on(inputs: impl IntoIterator<Item = Input>, today: guardrails::Day) -> Checked {
    let mut checked = Checked::default();
    let mut guardrails_file = None;
    let mut accounts_file = None;
    // Policy names by file too: an exception for a policy that does not
    // parse today still names a policy.
    let mut known: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for input in inputs {
        if guardrails::is_guardrails_file(&input.file) {
            match input.content.and_then(|bytes| guardrails::load(&input.file, &bytes)) {
                Ok(loaded) => checked.guardrails = Some(loaded),
                Err(finding) => checked.findings.push(finding),
            }
            guardrails_file = Some(input.file);
            continue;
        }
        if accounts::is_accounts_file(&input.file) {
            match input.content.and_then(|bytes| accounts::load(&input.file, &bytes)) {
                Ok(loaded) => {
                    checked.findings.extend(accounts::check_file(&loaded));
                    checked.accounts = Some(loaded);
                }
                Err(finding) => checked.findings.push(finding),
            }
            accounts_file = Some(input.file);
            continue;
        }
        let stem = input.file.rsplit('/').next().unwrap_or(&input.file);
        known.insert(stem.trim_end_matches(".yaml").trim_end_matches(".yml").to_string());
        match input.content.and_then(|bytes| load(&input.file, &bytes)) {
            Ok(loaded) => {
                checked.findings.extend(validate::validate(&loaded));
                checked.policies.push(loaded);
            }
            Err(finding) => checked.findings.push(finding),
        }
    }
    checked.findings.extend(validate::validate_set(&checked.policies));
    let accounts = match (&checked.accounts, &accounts_file) {
        (None, Some(file)) => Err(file.as_str()),
        (loaded, _) => Ok(loaded.as_ref()),
    };
    checked.findings.extend(checked.policies.iter().flat_map(|p| accounts::check_policy(accounts, p)));
    match (&checked.guardrails, guardrails_file) {
        (Some(loaded), _) => {
            known.extend(checked.policies.iter().map(|p| p.policy.metadata.name.clone()));
            checked.findings.extend(guardrails::check_file(loaded, &known, today));
            for policy in &checked.policies {
                checked.findings.extend(guardrails::check_policy(&loaded.guardrails, policy, today));
            }
        }
        // Fail closed: rules nobody can read let no policy through.
        (None, Some(file)) => checked.findings.extend(checked.policies.iter().map(|p| guardrails::unreadable(p, &file))),
        (None, None) => {}
    }
    finding::sort(&mut checked.findings);
    checked
}

/// The content hash of a policy: SHA-256 of its canonical JSON form, so a
/// reformatted file or reordered keys hash the same and any change of
/// meaning does not.
pub fn content_hash(policy: &TablePolicy) -> String {
    let canonical = serde_json::to_vec(policy).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

/// The JSON Schema of a policy file, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(TablePolicy);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCANS: &str = include_str!("../../desired/spatial-scans.yaml");

    fn input(file: &str, text: &str) -> Input {
        Input { file: file.into(), content: Ok(text.as_bytes().to_vec()) }
    }

    fn scans() -> TablePolicy {
        load("desired/spatial-scans.yaml", SCANS.as_bytes()).unwrap().policy
    }

    #[test]
    fn the_content_hash_is_of_the_meaning_not_the_text() {
        let hash = content_hash(&scans());
        assert_eq!(hash.len(), 64, "SHA-256 in hex: {hash}");
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        let reformatted = format!("# a comment\n{}\n\n", SCANS.replace("retention: 35d", "retention:   35d"));
        assert_eq!(content_hash(&load("x.yaml", reformatted.as_bytes()).unwrap().policy), hash, "the same meaning");
        let changed = SCANS.replace("retention: 35d", "retention: 36d");
        assert_ne!(changed, SCANS, "the example holds retention: 35d");
        assert_ne!(content_hash(&load("x.yaml", changed.as_bytes()).unwrap().policy), hash, "another meaning");
    }

    #[test]
    fn errors_hold_back_their_own_file_only() {
        let broken = SCANS.replace("name: spatial-scans", "name: broken").replace("retention: 35d", "retention: forever");
        let checked = check_on(
            [
                input("desired/spatial-scans.yaml", SCANS),
                input("desired/broken.yaml", &broken),
                Input {
                    file: "desired/unread.yaml".into(),
                    content: Err(Finding::error("desired/unread.yaml", Position::START, "read", "cannot read", "fix it")),
                },
            ],
            0,
        );
        assert!(checked.has_errors());
        let valid: Vec<&str> = checked.valid().map(|p| p.file.as_str()).collect();
        assert_eq!(valid, ["desired/spatial-scans.yaml"]);
        assert!(checked.findings.iter().any(|f| f.file == "desired/unread.yaml" && f.is_error()));
        let sorted: Vec<&str> = checked.findings.iter().map(|f| f.file.as_str()).collect();
        assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "sorted by file: {sorted:?}");

        let clean = check_on([input("desired/spatial-scans.yaml", SCANS)], 0);
        assert!(!clean.has_errors(), "{:?}", clean.findings);
        assert_eq!(clean.valid().count(), 1);
    }

    #[test]
    fn an_unreadable_guardrails_file_lets_no_policy_through() {
        let checked = check_on([input("desired/spatial-scans.yaml", SCANS), input("desired/_guardrails.yaml", "rules: [")], 0);
        assert!(checked.guardrails.is_none());
        assert_eq!(checked.valid().count(), 0, "fail closed: {:?}", checked.findings);
        assert!(checked.findings.iter().any(|f| f.file == "desired/spatial-scans.yaml" && f.message.contains("_guardrails.yaml")));
    }

    #[test]
    fn the_schema_is_the_policys() {
        let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
        assert_eq!(schema["title"], "drctl TablePolicy (drctl/v1)");
        assert!(schema["properties"]["spec"].is_object(), "{schema:#}");
    }
}
