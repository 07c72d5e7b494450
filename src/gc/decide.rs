//! Which tables gc may delete: the decision from a table's name, its tags
//! and the state records, kept pure so that every rule is a unit test.

use std::collections::BTreeMap;

use crate::drill::scratch::{self, SCRATCH_PREFIX};
use crate::state::{self, PolicyState};

/// What to do with a table, decided from its name, tags and the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Keep(String),
    /// Delete; `adopt` when the tag must go on first (untagged, recorded).
    Delete {
        why: String,
        adopt: Option<Adopt>,
    },
}

/// The tags an untagged, recorded scratch table gets before its delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Adopt {
    pub(super) policy: String,
    pub(super) drill_id: String,
}

/// Decides a table's fate from its name, its tags and the state records.
pub(super) fn decide(name: &str, region: &str, tags: &BTreeMap<String, String>, states: &[PolicyState], now: u64) -> Verdict {
    if !name.starts_with(SCRATCH_PREFIX) {
        return Verdict::Keep(format!("not named {SCRATCH_PREFIX}*: never drctl's"));
    }
    let recorded = recording(states, region, name);
    if let Some(holder) = recorded.filter(|s| live(s, now)) {
        return Verdict::Keep(in_use(holder));
    }
    // The drill's own claim on the table, read from the table, for a drill
    // this gc's state store does not know (another store's, a bare `drctl
    // verify`). A drill the store knows is judged by its lease: when that
    // lapsed the drill is dead, whatever its claim says.
    let finished = finished_drill(states, region, name);
    if recorded.is_none()
        && finished.is_none()
        && let Some(claimed) = claim(tags, now)
    {
        return claimed;
    }
    if scratch::deletable(name, tags).is_ok() {
        return Verdict::Delete {
            why: format!("a scratch table (tagged {}=true) no running drill uses", scratch::SCRATCH_TAG),
            adopt: None,
        };
    }
    match recorded {
        Some(record) => {
            let drill_id = record.in_flight.as_ref().and_then(|f| f.drill_id.clone()).unwrap_or_default();
            if !named_by_drill(name, &record.policy, &drill_id) {
                return Verdict::Keep(format!(
                    "not tagged; the state of {} names it, but it is not the scratch name of that policy's drill {drill_id}: a record alone never makes drctl delete a table",
                    record.policy
                ));
            }
            Verdict::Delete {
                why: format!(
                    "not tagged, but the state of {} records it as the scratch table of drill {drill_id}, which did not finish",
                    record.policy
                ),
                adopt: Some(Adopt { policy: record.policy.clone(), drill_id }),
            }
        }
        None => match finished {
            // A drill that ended without deleting it (a restore still
            // running at its deadline, a tag or delete that failed).
            Some((policy, drill_id)) if named_by_drill(name, policy, drill_id) => Verdict::Delete {
                why: format!("not tagged, but the state of {policy} records it as the scratch table of its finished drill {drill_id}"),
                adopt: Some(Adopt { policy: policy.to_string(), drill_id: drill_id.to_string() }),
            },
            _ => Verdict::Keep(format!(
                "not tagged {}=true and no state record names it: drctl cannot prove it made this table",
                scratch::SCRATCH_TAG
            )),
        },
    }
}

/// Kept while the table's expiry tag claims it for a drill, or when the tag
/// holds no time; `None` when nothing claims it.
fn claim(tags: &BTreeMap<String, String>, now: u64) -> Option<Verdict> {
    match scratch::claimed_until(tags)? {
        Ok(until) => {
            let until = until.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            (until > now).then(|| {
                Verdict::Keep(format!(
                    "in use: a drill claims it until {} (its {} tag)",
                    crate::state::rfc3339(until),
                    scratch::EXPIRES_TAG
                ))
            })
        }
        Err(why) => Some(Verdict::Keep(format!("{why}: drctl cannot tell that no drill uses it"))),
    }
}

/// The policy and drill id of a finished drill (the last one, or one in the
/// evidence) whose scratch table in `region` was `table`.
fn finished_drill<'a>(states: &'a [PolicyState], region: &str, table: &str) -> Option<(&'a str, &'a str)> {
    states.iter().find_map(|state| {
        let drills = state.last_drill.iter().chain(state.evidence.iter().filter_map(|e| e.drill.as_ref()));
        drills
            .filter(|drill| drill.regions.iter().any(|r| r.region == region && r.scratch_table.as_deref() == Some(table)))
            .map(|drill| (state.policy.as_str(), drill.drill_id.as_str()))
            .next()
    })
}

/// Whether `table` is the scratch name a drill of `policy` with `drill_id`
/// gives (as the drill itself checks on resume), so a damaged record cannot
/// point gc at another table: a drill id that is not 16 hexadecimal digits
/// (`archive` would name `drctl-drill-<policy>-archive`) names nothing.
fn named_by_drill(table: &str, policy: &str, drill_id: &str) -> bool {
    crate::drill::is_drill_id(drill_id) && scratch::scratch_name(policy, &drill_id[..8]) == table
}

/// The record whose in-flight drill restores into `table` in `region`.
pub(super) fn recording<'a>(states: &'a [PolicyState], region: &str, table: &str) -> Option<&'a PolicyState> {
    states.iter().find(|s| s.in_flight.as_ref().and_then(|f| f.restores.get(region)).is_some_and(|restore| restore.scratch_table == table))
}

pub(super) fn live(state: &PolicyState, now: u64) -> bool {
    state.lease.as_ref().is_some_and(|lease| lease.expires > now)
}

pub(super) fn in_use(state: &PolicyState) -> String {
    let drill = state.in_flight.as_ref().and_then(|f| f.drill_id.as_deref()).unwrap_or("in flight");
    let (owner, until) = state.lease.as_ref().map(|l| (l.owner.as_str(), state::rfc3339(l.expires))).unwrap_or_default();
    format!("in use: drill {drill} of {} runs under the lease of {owner} until {until}", state.policy)
}

/// How long the exports of a drill the state does not know are kept: a
/// drill of another state store (or a bare `verify`) may still be reading
/// them. The bucket's lifecycle expires anything after two days.
pub(super) const EXPORT_GRACE_SECONDS: u64 = 6 * 3600;

/// Decides the fate of one drill's exports (`drctl/<policy>/<drill>/`),
/// last written at `newest` (seconds).
pub(super) fn decide_exports(policy: &str, drill_id: &str, newest: u64, states: &[PolicyState], now: u64) -> Verdict {
    if !crate::drill::is_drill_id(drill_id) || !crate::policy::names::is_policy_name(policy) {
        return Verdict::Keep(format!("drctl/{policy}/{drill_id}/ is not a prefix a drill writes"));
    }
    let running = states.iter().find(|s| s.in_flight.as_ref().and_then(|f| f.drill_id.as_deref()) == Some(drill_id));
    match running {
        Some(state) if live(state, now) => Verdict::Keep(in_use(state)),
        Some(_) => Verdict::Delete { why: format!("exports of drill {drill_id}, interrupted and its lease expired"), adopt: None },
        None if newest + EXPORT_GRACE_SECONDS <= now => Verdict::Delete {
            why: format!("exports of drill {drill_id}, no drill in flight, last written {}", state::rfc3339(newest)),
            adopt: None,
        },
        None => {
            Verdict::Keep(format!("exports written {} (less than 6 h ago) by a drill this state does not know", state::rfc3339(newest)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::gc::{Found, GcReport, Kind, Outcome, state_regions};
    use crate::state::{InFlight, InFlightRestore, Lease, Step};

    const NOW: u64 = 1_800_000_000;
    const TABLE: &str = "drctl-drill-scans-0a1b2c3d";

    fn record(table: &str, lease_expires: Option<u64>) -> PolicyState {
        let mut state = PolicyState::new("scans");
        state.in_flight = Some(InFlight {
            step: Step::Drill,
            content_hash: "h".into(),
            commit: "c".into(),
            drill_id: Some("0a1b2c3d4e5f6071".into()),
            backup_job_id: None,
            copy_jobs: BTreeMap::new(),
            restores: BTreeMap::from([("us-east-1".to_string(), InFlightRestore { scratch_table: table.into(), job_id: None })]),
            started: NOW - 60,
            source: None,
        });
        state.lease = lease_expires.map(|expires| Lease { owner: "host-1-abc".into(), expires });
        state
    }

    fn tagged() -> BTreeMap<String, String> {
        scratch::scratch_tags("scans", "0a1b2c3d4e5f6071")
    }

    fn kept(verdict: Verdict) -> String {
        match verdict {
            Verdict::Keep(why) => why,
            other => panic!("expected kept, got {other:?}"),
        }
    }

    #[test]
    fn exports_are_deleted_once_their_drill_is_over_and_kept_while_it_runs() {
        let drill = "0a1b2c3d4e5f6071";
        let deleted = |v: &Verdict| matches!(v, Verdict::Delete { .. });
        let old = NOW - EXPORT_GRACE_SECONDS;
        assert!(deleted(&decide_exports("scans", drill, old, &[], NOW)), "nobody knows it and it is old");
        assert!(!deleted(&decide_exports("scans", drill, NOW - 60, &[], NOW)), "young: another store's drill may read it");
        let mut running = record(TABLE, Some(NOW + 60));
        running.in_flight.as_mut().unwrap().drill_id = Some(drill.into());
        assert!(!deleted(&decide_exports("scans", drill, old, std::slice::from_ref(&running), NOW)), "its drill runs");
        running.lease.as_mut().unwrap().expires = NOW - 1;
        assert!(deleted(&decide_exports("scans", drill, NOW - 60, &[running], NOW)), "its drill was killed");
        assert!(!deleted(&decide_exports("scans", "../../etc", old, &[], NOW)));
        assert!(!deleted(&decide_exports("Not A Policy", drill, old, &[], NOW)));
    }

    #[test]
    fn a_tagged_scratch_table_is_deleted_without_any_state() {
        assert!(matches!(decide(TABLE, "us-east-1", &tagged(), &[], NOW), Verdict::Delete { adopt: None, .. }));
    }

    #[test]
    fn a_table_without_the_prefix_is_kept_even_when_tagged_and_recorded() {
        let states = [record("SpatialScans", None)];
        assert!(kept(decide("SpatialScans", "us-east-1", &tagged(), &states, NOW)).contains("not named drctl-drill-"));
    }

    #[test]
    fn an_untagged_prefixed_table_is_kept_unless_a_record_names_it_in_that_region() {
        let why = kept(decide(TABLE, "us-east-1", &BTreeMap::new(), &[], NOW));
        assert!(why.contains("no state record names it"), "{why}");
        let states = [record(TABLE, Some(NOW - 1))];
        match decide(TABLE, "us-east-1", &BTreeMap::new(), &states, NOW) {
            Verdict::Delete { adopt: Some(adopt), why } => {
                assert_eq!(adopt, Adopt { policy: "scans".into(), drill_id: "0a1b2c3d4e5f6071".into() });
                assert!(why.contains("did not finish"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(decide(TABLE, "us-west-2", &BTreeMap::new(), &states, NOW), Verdict::Keep(_)), "another region's table");
    }

    #[test]
    fn a_scratch_table_claimed_by_its_expiry_tag_is_kept_whatever_the_state_says() {
        let mut tags = scratch::scratch_tags("scans", "0a1b2c3d4e5f6071");
        let at = |seconds: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        tags.extend([scratch::expires_tag(at(NOW + 60))]);
        let why = kept(decide(TABLE, "us-east-1", &tags, &[], NOW));
        assert!(why.contains("a drill claims it until") && why.contains("drctl:expires"), "{why}");
        tags.extend([scratch::expires_tag(at(NOW - 1))]);
        assert!(matches!(decide(TABLE, "us-east-1", &tags, &[], NOW), Verdict::Delete { .. }), "an expired claim frees it");
        tags.insert(scratch::EXPIRES_TAG.into(), "soon".into());
        let why = kept(decide(TABLE, "us-east-1", &tags, &[], NOW));
        assert!(why.contains("not an RFC 3339 time"), "{why}");

        // This store's own drill, its lease lapsed: dead, claim or not.
        tags.extend([scratch::expires_tag(at(NOW + 3600))]);
        let lapsed = record(TABLE, Some(NOW - 1));
        assert!(matches!(decide(TABLE, "us-east-1", &tags, &[lapsed], NOW), Verdict::Delete { .. }));
    }

    #[test]
    fn a_hand_edited_drill_id_never_names_a_users_table() {
        for id in ["archive", "reports-archive", "0a1b2c3d", "0a1b2c3d4e5f607g", "0a1b2c3d4e5f60711"] {
            let mut state = record(&format!("drctl-drill-scans-{}", id.get(..8).unwrap_or(id)), None);
            state.in_flight.as_mut().unwrap().drill_id = Some(id.into());
            let table = format!("drctl-drill-scans-{}", id.get(..8).unwrap_or(id));
            let why = kept(decide(&table, "us-east-1", &BTreeMap::new(), &[state], NOW));
            assert!(why.contains("not the scratch name"), "{id}: {why}");
        }
        assert!(named_by_drill("drctl-drill-scans-0a1b2c3d", "scans", "0a1b2c3d4e5f6071"));
    }

    #[test]
    fn a_record_naming_a_table_its_drill_would_not_create_proves_nothing() {
        let mut state = record("drctl-drill-scans-99999999", None);
        let why = kept(decide("drctl-drill-scans-99999999", "us-east-1", &BTreeMap::new(), std::slice::from_ref(&state), NOW));
        assert!(why.contains("not the scratch name"), "{why}");
        state.in_flight.as_mut().unwrap().drill_id = None;
        assert!(matches!(decide("drctl-drill-scans-99999999", "us-east-1", &BTreeMap::new(), &[state], NOW), Verdict::Keep(_)));
    }

    #[test]
    fn a_table_of_a_drill_under_a_live_lease_is_in_use() {
        let states = [record(TABLE, Some(NOW + 30))];
        for tags in [tagged(), BTreeMap::new()] {
            let why = kept(decide(TABLE, "us-east-1", &tags, &states, NOW));
            assert!(why.starts_with("in use: drill 0a1b2c3d4e5f6071 of scans") && why.contains("host-1-abc"), "{why}");
        }
        let other = "drctl-drill-scans-99999999";
        assert!(
            matches!(decide(other, "us-east-1", &tagged(), &states, NOW), Verdict::Delete { .. }),
            "an older leftover of the same policy"
        );
    }

    /// Regression: a drill that finished without deleting its untagged table
    /// (a restore past its deadline) cleared its in-flight record, and gc
    /// then had no record naming the table.
    #[test]
    fn an_untagged_table_a_finished_drill_recorded_is_deleted() {
        let mut state = PolicyState::new("scans");
        state.last_drill = Some(crate::state::DrillRecord {
            drill_id: "0a1b2c3d4e5f6071".into(),
            started: NOW - 600,
            finished: NOW - 60,
            content_hash: "h".into(),
            commit: "c".into(),
            passed: false,
            inconclusive: false,
            regions: vec![crate::state::RegionDrill {
                region: "us-west-2".into(),
                scratch_table: Some(TABLE.into()),
                ..Default::default()
            }],
            reasons: Vec::new(),
        });
        let states = [state];
        assert!(matches!(decide(TABLE, "us-west-2", &BTreeMap::new(), &states, NOW), Verdict::Delete { adopt: Some(_), .. }));
        assert!(matches!(decide(TABLE, "us-east-1", &BTreeMap::new(), &states, NOW), Verdict::Keep(_)), "another region's table");
        assert_eq!(state_regions(&states), BTreeSet::from(["us-west-2".to_string()]));
    }

    #[test]
    fn the_regions_of_in_flight_restores_are_looked_at_and_a_forged_one_is_not() {
        let mut forged = record(TABLE, None);
        forged.policy = "forged".into();
        let restores = &mut forged.in_flight.as_mut().unwrap().restores;
        let restore = restores.remove("us-east-1").unwrap();
        restores.insert("us-east-1; aws.example".into(), restore);
        let states = [record(TABLE, None), PolicyState::new("idle"), forged];
        assert_eq!(state_regions(&states), BTreeSet::from(["us-east-1".to_string()]));
    }

    #[test]
    fn a_report_fails_on_a_failed_delete_or_an_unlisted_region() {
        let found = |outcome| Found {
            kind: Kind::ScratchTable,
            region: "us-east-1".into(),
            name: TABLE.into(),
            stack: None,
            policy: None,
            outcome,
            why: String::new(),
            account: None,
        };
        let report = GcReport { found: vec![found(Outcome::Deleted), found(Outcome::Kept)], ..GcReport::default() };
        assert!(!report.failed());
        assert!(GcReport { found: vec![found(Outcome::Failed)], ..GcReport::default() }.failed());
        assert!(GcReport { errors: vec!["us-east-1: ListTables: denied".into()], ..GcReport::default() }.failed());
    }
}
