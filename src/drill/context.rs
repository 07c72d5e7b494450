//! What a drill knows before and while it runs its regions: which regions
//! and what each is to the policy, the drill id, what every region shares,
//! and the running drill's context ([`Run`]) with the answers both the
//! drill as a whole ([`super::run`]) and each region ([`super::region`])
//! ask of it. Both import this module, and neither imports the other's
//! caller.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::TableDescription;

use super::canary::Canary;
use super::journal::Journal;
use super::recovery::RecoveryPoint;
use super::{DrillError, Options, Resume, Rpo, reference};
use crate::aws::{Aws, Clients};
use crate::policy::TablePolicy;
use crate::policy::model::Reference;

/// What a drill region is to the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// The policy's own region: the recovery point is restored there.
    Primary,
    /// A copy region: the point is copied into its vault, kept this long.
    Dr { delete_after_days: i64 },
    /// A copy in another account (`<account>/<region>`): the point is
    /// copied into that account's central vault and restored there.
    Account { account: String, region: String, vault: String, delete_after_days: i64 },
}

/// The regions to drill: [`Options::regions`] or `verify.regions`, each once,
/// in the order given.
pub(super) fn drill_regions(policy: &TablePolicy, options: &Options) -> Vec<String> {
    let wanted = options.regions.as_ref().unwrap_or(&policy.spec.verify.regions);
    let mut regions: Vec<String> = Vec::with_capacity(wanted.len());
    for region in wanted {
        if !regions.contains(region) {
            regions.push(region.clone());
        }
    }
    regions
}

/// What `region` is to `policy`: its primary, one of its copy regions, or
/// neither (no vault there to drill from).
pub(super) fn target(policy: &TablePolicy, region: &str) -> Result<Target, DrillError> {
    if region == policy.spec.region {
        return Ok(Target::Primary);
    }
    let copies = &policy.spec.backup.copies;
    match copies.iter().find(|c| c.target() == region) {
        Some(copy) => Ok(match (&copy.account, copy.central_vault()) {
            (Some(account), Some(vault)) => Target::Account {
                account: account.clone(),
                region: copy.region.clone(),
                vault: vault.to_string(),
                delete_after_days: days(copy.retention.days_ceil()),
            },
            _ => Target::Dr { delete_after_days: days(copy.retention.days_ceil()) },
        }),
        None => Err(DrillError::NotADrillRegion {
            region: region.to_string(),
            primary: policy.spec.region.clone(),
            copies: match copies.is_empty() {
                true => "none".to_string(),
                false => copies.iter().map(|c| c.target()).collect::<Vec<_>>().join(", "),
            },
        }),
    }
}

pub(super) fn days(days: u64) -> i64 {
    i64::try_from(days).unwrap_or(i64::MAX)
}

/// The drill id: the resumed drill's, when it is well formed, or a new one.
pub(super) fn drill_id(resume: Option<&Resume>) -> Result<String, DrillError> {
    match resume {
        None => Ok(super::new_drill_id()),
        Some(resume) if super::is_drill_id(&resume.drill_id) => Ok(resume.drill_id.clone()),
        Some(resume) => Err(DrillError::BadResume { why: format!("drill id {:?} is not 16 hexadecimal digits", resume.drill_id) }),
    }
}

/// What every region's drill shares, decided once in the primary region.
pub(super) struct Shared {
    pub source: TableDescription,
    pub role: String,
    pub point: RecoveryPoint,
}

/// The canary, and whether it is in the source table (a resumed drill whose
/// canary is already gone still checks the restore for it).
pub(super) struct PlacedCanary {
    pub canary: Canary,
    pub in_source: bool,
}

/// One drill under way: its context, and the canary once written.
pub(super) struct Run<'a> {
    pub aws: &'a Aws,
    pub policy: &'a TablePolicy,
    pub options: &'a Options,
    pub journal: &'a dyn Journal,
    pub drill_id: String,
    pub started: SystemTime,
    pub primary: Clients,
    pub canary: Option<PlacedCanary>,
    /// The point-in-time reference, built once for every region.
    pub reference: tokio::sync::OnceCell<Result<reference::Prepared, DrillError>>,
}

impl Run<'_> {
    pub(super) fn name(&self) -> &str {
        &self.policy.metadata.name
    }

    pub(super) fn resume(&self) -> Option<&Resume> {
        self.options.resume.as_ref()
    }

    /// Whether the data checks compare with the point-in-time reference.
    pub(super) fn wants_reference(&self) -> bool {
        let verify = &self.policy.spec.verify;
        verify.reference_for(&self.policy.spec.backup) == Reference::PointInTime && verify.has_data_checks()
    }

    /// The point-in-time reference of this drill, built on first ask.
    pub(super) async fn reference(&self, shared: &Shared) -> &Result<reference::Prepared, DrillError> {
        self.reference
            .get_or_init(|| async {
                let prepared = match reference::window(&shared.point, self.options.consistency_margin) {
                    Ok(window) => {
                        let request = reference::Request {
                            source: &shared.source,
                            window,
                            policy: self.name(),
                            drill_id: &self.drill_id,
                            resumed: self.resume().is_some(),
                            backoff: self.options.backoff,
                            deadline: self.options.job_deadline,
                        };
                        Box::pin(reference::prepare(&self.primary, &request)).await
                    }
                    Err(error) => Err(error),
                };
                if let Err(error) = &prepared {
                    tracing::warn!(%error, "the point-in-time reference could not be built");
                }
                prepared
            })
            .await
    }

    /// The age of `point` when the drill started, against the objective.
    pub(super) fn rpo(&self, point: &RecoveryPoint) -> Rpo {
        let age = self.started.duration_since(point.created_at).unwrap_or(Duration::ZERO);
        let objective = self.policy.spec.objectives.rpo.seconds();
        Rpo { measured_seconds: age.as_secs_f64(), objective_seconds: objective, met: age.as_secs_f64() <= objective as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{self, Input};

    fn policy(verify_regions: &str) -> TablePolicy {
        let yaml = include_str!("../../desired/spatial-scans.yaml").replace("regions: [us-east-1, us-west-2]", verify_regions);
        let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.into_bytes()) }]);
        assert!(!checked.has_errors(), "{:#?}", checked.findings);
        checked.policies[0].policy.clone()
    }

    #[test]
    fn drill_regions_come_from_the_policy_or_the_options_each_once() {
        let policy = policy("regions: [us-west-2, us-east-1]");
        assert_eq!(drill_regions(&policy, &Options::default()), ["us-west-2", "us-east-1"]);
        let options = Options { regions: Some(vec!["us-east-1".into(), "us-east-1".into()]), ..Options::default() };
        assert_eq!(drill_regions(&policy, &options), ["us-east-1"]);
    }

    #[test]
    fn a_region_is_the_primary_a_copy_region_or_refused() {
        let policy = policy("regions: [us-east-1, us-west-2]");
        assert_eq!(target(&policy, "us-east-1").unwrap(), Target::Primary);
        assert_eq!(target(&policy, "us-west-2").unwrap(), Target::Dr { delete_after_days: 90 });
        let refused = target(&policy, "eu-west-1").unwrap_err().to_string();
        assert!(
            refused.contains("eu-west-1") && refused.contains("primary region us-east-1") && refused.contains("(us-west-2)"),
            "{refused}"
        );
    }

    #[test]
    fn a_resumed_drill_keeps_its_id_and_a_malformed_one_is_refused() {
        let resume = Resume { drill_id: "0123456789abcdef".into(), ..Resume::default() };
        assert_eq!(drill_id(Some(&resume)).unwrap(), "0123456789abcdef");
        for bad in ["", "0123", "0123456789abcdeg", "0123456789abcdef0", "ééééééééé"] {
            let resume = Resume { drill_id: bad.into(), ..Resume::default() };
            assert!(matches!(drill_id(Some(&resume)), Err(DrillError::BadResume { .. })), "{bad:?}");
        }
        assert!(super::super::is_drill_id(&drill_id(None).unwrap()));
    }
}
