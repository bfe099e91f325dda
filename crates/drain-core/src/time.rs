//! Wall-clock time as whole seconds since the Unix epoch, and the clock port.
//!
//! Seconds are enough: lifecycle hooks, schedules and DynamoDB TTL all work in seconds, and
//! an integer keeps the decision function exact and the simulation deterministic.

use std::fmt;

/// A point in time, in seconds since the Unix epoch (UTC).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Seconds since the Unix epoch.
    pub fn epoch_seconds(self) -> i64 {
        self.0
    }

    /// This instant moved by `seconds` (negative moves back).
    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Parses an RFC 3339 / ISO 8601 UTC timestamp as AWS writes them in events
    /// (`2026-11-02T18:43:48Z`, `2026-11-02T18:43:48.533Z`); fractions are dropped.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() < 20
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return None;
        }
        if bytes[10] != b'T' && bytes[10] != b't' && bytes[10] != b' ' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut rest = &text[19..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            rest = &fraction[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
                let hours = rest.get(1..3)?.parse::<i64>().ok()?;
                let minutes = rest.get(4..6)?.parse::<i64>().ok()?;
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                sign * (hours * 3600 + minutes * 60)
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        Some(Timestamp(
            days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        ))
    }

    /// Formats as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

// Howard Hinnant's civil-date algorithms (public domain description), proleptic Gregorian.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Where "now" comes from. The AWS binaries use [`SystemClock`]; tests and the simulation use
/// `testing::ManualClock` (feature `test-util`) so that time only moves when they say so.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The machine's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(seconds)
    }
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aws_event_timestamps_with_and_without_fractions() {
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:00Z"),
            Some(Timestamp(0))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-02T18:43:48Z"),
            Some(Timestamp(1_793_645_028))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-02T18:43:48.533Z"),
            Some(Timestamp(1_793_645_028))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-02T19:43:48+01:00"),
            Some(Timestamp(1_793_645_028))
        );
    }

    #[test]
    fn rejects_text_that_is_not_a_timestamp() {
        for bad in [
            "",
            "yesterday",
            "2026-13-02T18:43:48Z",
            "2026-11-02 18:43",
            "2026-11-02T18:43:48",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip_through_parse() {
        for seconds in [0, 951_782_400, 1_793_645_028, 4_102_444_799] {
            let at = Timestamp(seconds);
            assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()), Some(at));
        }
    }
}
