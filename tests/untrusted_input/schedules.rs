//! Random AWS cron and rate expressions: `Schedule::parse` accepts or
//! explains each, in a policy too, and hostile numbers in a schedule's
//! fields are errors.

use super::*;

use drctl::policy::Schedule;

const NAMES: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT",
    "jan", "Dec", "sun", "sAt", "JANUARY", "MONDAY",
];

fn cron_number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..64_u32).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "", "00", "007", "-1", "+1", "1.5", "64", "65535", "65536", "99999", "1970", "2199", "2200", "0x10", "99999999999999999999999",
            "١", "５",
        ]).prop_map(String::from),
        2 => prop::sample::select(NAMES).prop_map(String::from),
    ]
}

fn cron_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["*", "?", "L", "LW", "W", "#", "/", "-", ",", "L-2", "*/", "?/2"]).prop_map(String::from),
        5 => cron_number(),
        3 => (cron_number(), cron_number()).prop_map(|(a, b)| format!("{a}-{b}")),
        2 => (cron_number(), cron_number()).prop_map(|(a, s)| format!("{a}/{s}")),
        2 => cron_number().prop_map(|s| format!("*/{s}")),
        2 => (cron_number(), cron_number(), cron_number()).prop_map(|(a, b, s)| format!("{a}-{b}/{s}")),
        1 => cron_number().prop_map(|n| format!("{n}W")),
        1 => cron_number().prop_map(|n| format!("{n}L")),
        1 => (cron_number(), cron_number()).prop_map(|(d, n)| format!("{d}#{n}")),
    ]
}

fn cron_field() -> impl Strategy<Value = String> {
    prop::collection::vec(cron_atom(), 1..4).prop_map(|atoms| atoms.join(","))
}

/// Mostly well-shaped: six fields, one day field `?`, year `*`; sometimes
/// any number of random fields.
fn cron_expression() -> impl Strategy<Value = String> {
    let shaped = (cron_field(), cron_field(), cron_field(), cron_field(), cron_field(), 0..3_u8).prop_map(
        |(minutes, hours, day, month, weekday, which)| match which {
            0 => format!("cron({minutes} {hours} {day} {month} ? *)"),
            1 => format!("cron({minutes} {hours} ? {month} {weekday} *)"),
            _ => format!("cron({minutes} {hours} {day} {month} {weekday} *)"),
        },
    );
    let loose = (prop::collection::vec(cron_field(), 0..9), prop::sample::select(vec![" ", "  ", "\t", "\n", " \u{a0}"]))
        .prop_map(|(fields, space)| format!("cron({})", fields.join(space)));
    let rate = (cron_number(), prop::sample::select(vec!["minute", "minutes", "hour", "hours", "day", "days", "week", "", " hours"]))
        .prop_map(|(n, unit)| format!("rate({n} {unit})"));
    prop_oneof![6 => shaped, 2 => loose, 1 => rate, 1 => ".{0,40}"]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_schedules_parse_or_explain(expression in cron_expression()) {
        let text = expression.clone();
        let parsed = bounded(&expression, move || Schedule::parse(&text));
        match parsed {
            Ok(schedule) => {
                prop_assert!(schedule.min_gap().minutes() >= 1, "{expression}: min gap {}", schedule.min_gap());
                prop_assert!(schedule.min_gap() <= schedule.max_gap(), "{expression}");
                // The calendar walk covers 28 years; no gap can be longer.
                prop_assert!(schedule.max_gap().minutes() <= 28 * 366 * 24 * 60 || expression.starts_with("rate("), "{expression}");
                prop_assert_eq!(schedule.expression(), expression.trim());
                prop_assert_eq!(Schedule::parse(schedule.expression()), Ok(schedule.clone()));
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// The same expressions inside a policy: a finding at the schedule line.
    #[test]
    fn random_schedules_in_a_policy_are_findings(expression in cron_expression()) {
        let quoted = format!("\"{}\"", expression.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\t', "\\t"));
        let text = EXAMPLES[1].1.replace("\"cron(30 2 ? * MON-FRI *)\"", &quoted);
        check_text(&text);
    }
}

#[test]
fn schedule_fields_with_hostile_numbers_are_errors() {
    for huge in ["99999999999999999999999", "18446744073709551616", "65536", "4294967296", "-1", "1e400"] {
        for expression in [
            format!("cron({huge} 0 * * ? *)"),
            format!("cron(0 {huge} * * ? *)"),
            format!("cron(0 0 {huge} * ? *)"),
            format!("cron(0 0 {huge}W * ? *)"),
            format!("cron(0 0 * {huge} ? *)"),
            format!("cron(0 0 ? * {huge} *)"),
            format!("cron(0 0 ? * {huge}#1 *)"),
            format!("cron(0 0 ? * 1#{huge} *)"),
            format!("cron(0 0 ? * {huge}L *)"),
            format!("cron(0 0 * * ? {huge})"),
            format!("cron(0/{huge} 0 * * ? *)"),
            format!("cron(0-{huge} 0 * * ? *)"),
        ] {
            let text = expression.clone();
            let parsed = bounded(&expression, move || Schedule::parse(&text));
            assert!(parsed.is_err(), "{expression} parsed: {parsed:?}");
        }
    }
    // `rate(65536 hours)` is a (long) rate; the RPO rules judge it.
    for huge in ["99999999999999999999999", "18446744073709551616", "4294967296", "1000000", "-1", "1e400", "0"] {
        assert!(Schedule::parse(&format!("rate({huge} hours)")).is_err(), "{huge}");
    }
}
