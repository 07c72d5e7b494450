//! Durations as policies write them: `30m`, `6h`, `35d`.
//!
//! Stored in whole minutes, the finest unit AWS Backup works in. Parsing is
//! checked: a number too large to mean anything is an error, not an overflow.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of time in whole minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    minutes: u64,
}

/// A century: longer than any retention AWS Backup accepts, and small
/// enough that no arithmetic on durations can overflow.
const MAX_MINUTES: u64 = 100 * 365 * 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration: write a whole number and a unit, like `30m`, `6h` or `35d`")]
    Malformed(String),
    #[error("`{0}` is longer than 100 years")]
    TooLong(String),
    #[error("a duration must be longer than zero, not `{0}`")]
    Zero(String),
}

impl Duration {
    pub const fn from_minutes(minutes: u64) -> Self {
        Self { minutes }
    }
    pub const fn from_hours(hours: u64) -> Self {
        Self { minutes: hours * 60 }
    }
    pub const fn from_days(days: u64) -> Self {
        Self { minutes: days * 24 * 60 }
    }
    pub const fn minutes(self) -> u64 {
        self.minutes
    }
    pub fn seconds(self) -> u64 {
        self.minutes * 60
    }
    /// Whole days, rounded up: AWS Backup lifecycles count in days and a
    /// shorter retention than asked for would silently weaken the policy.
    pub fn days_ceil(self) -> u64 {
        self.minutes.div_ceil(24 * 60)
    }
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds())
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || DurationError::Malformed(text.to_string());
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(malformed)?;
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() {
            return Err(malformed());
        }
        // Only ASCII digits here: the one way to fail is a number past u64.
        let count: u64 = digits.parse().map_err(|_| DurationError::TooLong(text.into()))?;
        let per_unit = match unit {
            "m" => 1,
            "h" => 60,
            "d" => 24 * 60,
            "w" => 7 * 24 * 60,
            _ => return Err(malformed()),
        };
        let minutes = count.checked_mul(per_unit).filter(|m| *m <= MAX_MINUTES);
        match minutes {
            None => Err(DurationError::TooLong(text.to_string())),
            Some(0) => Err(DurationError::Zero(text.to_string())),
            Some(minutes) => Ok(Self { minutes }),
        }
    }
}

impl fmt::Display for Duration {
    /// The largest unit that divides the duration exactly, so a value read
    /// from a policy prints back the way it was written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.minutes;
        if m != 0 && m.is_multiple_of(24 * 60) {
            write!(f, "{}d", m / (24 * 60))
        } else if m != 0 && m.is_multiple_of(60) {
            write!(f, "{}h", m / 60)
        } else {
            write!(f, "{m}m")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[1-9][0-9]{0,11}[mhdw]$",
            "description": "A whole number and a unit: m (minutes), h (hours), d (days), w (weeks). Example: 35d."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!("30m".parse::<Duration>().unwrap().minutes(), 30);
        assert_eq!("6h".parse::<Duration>().unwrap().minutes(), 360);
        assert_eq!("35d".parse::<Duration>().unwrap().minutes(), 35 * 1440);
        assert_eq!("2w".parse::<Duration>().unwrap(), Duration::from_days(14));
    }

    #[test]
    fn prints_back_as_written() {
        for text in ["30m", "6h", "35d", "90m", "25h"] {
            assert_eq!(text.parse::<Duration>().unwrap().to_string(), text);
        }
        assert_eq!(Duration::from_hours(48).to_string(), "2d");
    }

    #[test]
    fn rejects_malformed_zero_and_huge() {
        for bad in ["", "6", "h", "6 h", "6H", "-6h", "6.5h", "6hours", "0x10m", "１h"] {
            assert!(matches!(bad.parse::<Duration>(), Err(DurationError::Malformed(_))), "{bad}");
        }
        assert_eq!("0d".parse::<Duration>(), Err(DurationError::Zero("0d".into())));
        assert!(matches!("99999999999999999999d".parse::<Duration>(), Err(DurationError::TooLong(_))));
        assert!(matches!("40000d".parse::<Duration>(), Err(DurationError::TooLong(_))));
    }

    #[test]
    fn a_hundred_years_is_the_longest() {
        assert_eq!("36500d".parse::<Duration>().unwrap().minutes(), MAX_MINUTES);
        assert_eq!(format!("{MAX_MINUTES}m").parse::<Duration>().unwrap().minutes(), MAX_MINUTES);
        assert!(matches!(format!("{}m", MAX_MINUTES + 1).parse::<Duration>(), Err(DurationError::TooLong(_))));
        assert!(matches!("36501d".parse::<Duration>(), Err(DurationError::TooLong(_))));
        assert!(matches!("1000000000000000000000000w".parse::<Duration>(), Err(DurationError::TooLong(_))), "past u64");
    }

    #[test]
    fn the_schema_says_what_the_parser_reads() {
        let schema = serde_json::to_value(schemars::schema_for!(Duration)).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["pattern"], "^[1-9][0-9]{0,11}[mhdw]$", "a whole number of at most 12 digits and a unit");
        assert!(schema["description"].as_str().unwrap().contains("35d"));
    }

    #[test]
    fn days_round_up() {
        assert_eq!(Duration::from_hours(25).days_ceil(), 2);
        assert_eq!(Duration::from_days(7).days_ceil(), 7);
    }
}
