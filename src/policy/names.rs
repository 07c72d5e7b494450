//! Well-formedness of the names, regions and ARNs a policy carries.

/// Every AWS region drctl knows, across the commercial, China and GovCloud
/// partitions. A region missing here is a one-line change.
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

pub fn is_region(text: &str) -> bool {
    REGIONS.contains(&text)
}

/// A hint naming the known region closest in spelling.
pub fn region_hint(text: &str) -> String {
    let closest = REGIONS.iter().min_by_key(|region| strsim::levenshtein(region, text));
    match closest {
        Some(region) if strsim::levenshtein(region, text) <= 3 => format!("did you mean {region}?"),
        _ => "use an AWS region name like us-east-1 or eu-west-1".to_string(),
    }
}

/// `[a-z0-9-]{1,40}`, not starting or ending with `-` (it names stacks).
pub fn is_policy_name(text: &str) -> bool {
    (1..=40).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// Why a well-formed policy name cannot be used: the stacks it would
/// render (`drctl-<name>`) are named like a stack drctl derives for
/// something else, which a deploy would then update in its place.
pub fn reserved_policy_name(name: &str) -> Option<String> {
    if name == "bootstrap" {
        return Some("`drctl-bootstrap` is the stack `drctl bootstrap` deploys in every region".to_string());
    }
    if let Some(kind) = shared_stack_kind(name) {
        return Some(format!("`drctl-{name}` is the name drctl gives a shared {kind} stack"));
    }
    let (owner, region) = name.rsplit_once("-dr-")?;
    is_region(region).then(|| format!("`drctl-{name}` is the name of the copy stack in {region} of a policy named `{owner}`"))
}

/// `vault-<10 hex>` and `plan-<10 hex>[-<shard>]`: the names (after
/// `drctl-`) of the stacks policies share.
fn shared_stack_kind(name: &str) -> Option<&'static str> {
    let (kind, rest) =
        [("vault", "vault-"), ("plan", "plan-")].into_iter().find_map(|(kind, prefix)| Some((kind, name.strip_prefix(prefix)?)))?;
    let hash = match rest.split_once('-') {
        Some((hash, shard)) if kind == "plan" && !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit()) => hash,
        Some(_) => return None,
        None => rest,
    };
    (hash.len() == 10 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then_some(kind)
}

/// DynamoDB's rule: 3 to 255 of `[A-Za-z0-9_.-]`.
pub fn is_table_name(text: &str) -> bool {
    (3..=255).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// An SNS topic name: 1 to 256 of `[A-Za-z0-9_-]`.
pub fn is_topic_name(text: &str) -> bool {
    (1..=256).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

pub fn is_topic_arn(text: &str) -> bool {
    match arn_parts(text, "sns") {
        Some([region, account, name]) => {
            is_region(region) && is_account(account) && is_topic_name(name.strip_suffix(".fifo").unwrap_or(name))
        }
        None => false,
    }
}

/// A key id (UUID or multi-region `mrk-...`), `alias/name`, or a key or alias ARN.
pub fn is_kms_key(text: &str) -> bool {
    if let Some(alias) = text.strip_prefix("alias/") {
        return is_alias_name(alias);
    }
    if let Some([region, account, resource]) = arn_parts(text, "kms") {
        let resource_ok = match resource.split_once('/') {
            Some(("key", id)) => is_key_id(id),
            Some(("alias", name)) => is_alias_name(name),
            _ => false,
        };
        return is_region(region) && is_account(account) && resource_ok;
    }
    is_key_id(text)
}

fn is_alias_name(name: &str) -> bool {
    (1..=250).contains(&name.len())
        && !name.starts_with("aws/")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
}

fn is_key_id(id: &str) -> bool {
    let id = id.strip_prefix("mrk-").unwrap_or(id);
    (id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
        || (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` → [region, account, resource].
fn arn_parts<'a>(text: &'a str, service: &str) -> Option<[&'a str; 3]> {
    let mut parts = text.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(found), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    (matches!(partition, "aws" | "aws-cn" | "aws-us-gov") && found == service).then_some([region, account, resource])
}

/// A value quoted in a message, cut short and stripped of control
/// characters so that hostile input cannot forge terminal output.
pub fn shown(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { '?' } else { c }).take(80).collect();
    if text.chars().count() > 80 { format!("{clean}…") } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_uuids_or_32_hex_digits_with_an_optional_mrk_prefix() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab") && is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(is_key_id("1234abcd12ab34cd56ef1234567890ab"), "32 hex digits");
        assert!(!is_key_id("1234abcd-12ab-34cd-56ef-1234567890a"), "35 characters");
        assert!(!is_key_id("1234abcd-12ab-34cd-56ef-1234567890ag"), "not hex");
        assert!(!is_key_id("1234abcd-12ab-34cd-56ef-12345678-0ab-"[..32].as_ref()), "dashes in a 32-character id");
        assert!(!is_key_id("1234abcd12ab34cd56ef1234567890ag"), "32 characters, not all hex");
    }

    /// A quoted value is cut at 80 characters, and marked cut only when it was.
    #[test]
    fn a_shown_value_is_cut_at_80_characters_and_marked_only_when_cut() {
        let exactly = "a".repeat(80);
        assert_eq!(shown(&exactly), exactly, "80 characters are shown whole");
        assert_eq!(shown(&"a".repeat(81)), format!("{exactly}…"));
        assert_eq!(shown("a\u{1b}[2Jb"), "a?[2Jb", "control characters cannot drive the terminal");
    }

    #[test]
    fn a_region_hint_names_a_close_region_and_only_a_close_one() {
        assert_eq!(region_hint("us-east-9"), "did you mean us-east-1?");
        assert_eq!(region_hint("eu-wset-1"), "did you mean eu-west-1?");
        assert_eq!(region_hint("mars-central-7"), "use an AWS region name like us-east-1 or eu-west-1");
    }

    #[test]
    fn names_and_arns() {
        assert!(reserved_policy_name("bootstrap").is_some() && reserved_policy_name("x-dr-us-west-2").is_some());
        assert!(reserved_policy_name("bootstrap-scans").is_none() && reserved_policy_name("x-dr-mars").is_none());
        for shared in ["vault-0123456789", "plan-abcdef0123", "plan-abcdef0123-3"] {
            assert!(reserved_policy_name(shared).is_some(), "{shared}");
        }
        for free in ["vault-scans", "vault-0123456789-1", "plan-abcdef012", "plan-abcdef0123-x", "plan-ABCDEF0123", "plan-abcdef0123-"] {
            assert!(reserved_policy_name(free).is_none(), "{free}");
        }
        assert!(is_policy_name("spatial-scans") && !is_policy_name("Spatial") && !is_policy_name("-x") && !is_policy_name(&"a".repeat(41)));
        assert!(is_table_name("SpatialScans") && is_table_name("a.b_c-d") && !is_table_name("ab") && !is_table_name("a b c"));
        assert!(is_topic_arn("arn:aws:sns:us-east-1:123456789012:dr-announcements"));
        assert!(!is_topic_arn("arn:aws:sns:us-east-1:1234:dr") && !is_topic_arn("arn:aws:sqs:us-east-1:123456789012:q"));
        assert!(is_kms_key("alias/dr-backups") && is_kms_key("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_kms_key("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_kms_key("arn:aws:kms:us-east-1:123456789012:alias/dr-backups"), "an alias ARN");
        assert!(!is_kms_key("arn:aws:kms:mars-1:123456789012:alias/dr-backups"), "a region that is not one");
        assert!(!is_kms_key("arn:aws:kms:us-east-1:1234:alias/dr-backups"), "an account that is not 12 digits");
        assert!(!is_kms_key("arn:aws:kms:us-east-1:123456789012:alias/aws/ebs"), "AWS's own aliases");
        assert!(!is_kms_key("alias/aws/backup") && !is_kms_key("dr-backups") && !is_kms_key("arn:aws:kms:mars-1:123456789012:key/x"));
        assert!(is_region("us-west-2") && !is_region("us-west-9"));
        assert_eq!(region_hint("us-wset-2"), "did you mean us-west-2?");
        assert_eq!(shown("a\u{1b}[2J"), "a?[2J");
    }
}
