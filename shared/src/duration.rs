//! The one duration grammar of the API's filters and the CLI's flags: a whole number and a
//! unit, `90s`, `30m`, `12h`, `7d` (no spaces, no fractions, no sums), and, where a point in
//! time is asked for, either such a duration (that long ago, or that far ahead) or an RFC 3339
//! instant. One grammar, so a value copied from the CLI's help works in a URL and back.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

/// The longest duration accepted: ten years, far beyond any key's lifetime or retention, and
/// far from `TimeDelta`'s limits.
const MAX_SECONDS: i64 = 10 * 366 * 86_400;

/// A positive span of time, written `<n><unit>` with unit `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(TimeDelta);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    #[error("must be a whole number and a unit (s, m, h or d), like 30m, 12h or 7d")]
    Unparseable,
    #[error("must be more than zero")]
    Zero,
    #[error("must be at most 3660d")]
    TooLong,
    #[error("must be a duration like 7d or an RFC 3339 date-time like 2027-01-31T00:00:00Z")]
    NeitherSpanNorInstant,
}

impl Span {
    pub fn parse(text: &str) -> Result<Self, SpanError> {
        let split = text
            .len()
            .checked_sub(1)
            .filter(|&at| text.is_char_boundary(at))
            .ok_or(SpanError::Unparseable)?;
        let (number, unit) = text.split_at(split);
        let unit_seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(SpanError::Unparseable),
        };
        if number.is_empty() || number.len() > 12 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SpanError::Unparseable);
        }
        let count: i64 = number.parse().map_err(|_| SpanError::Unparseable)?;
        let seconds = count.checked_mul(unit_seconds).ok_or(SpanError::TooLong)?;
        if seconds == 0 {
            return Err(SpanError::Zero);
        }
        if seconds > MAX_SECONDS {
            return Err(SpanError::TooLong);
        }
        Ok(Self(TimeDelta::seconds(seconds)))
    }

    pub fn from_seconds(seconds: i64) -> Result<Self, SpanError> {
        match seconds {
            ..=0 => Err(SpanError::Zero),
            s if s > MAX_SECONDS => Err(SpanError::TooLong),
            s => Ok(Self(TimeDelta::seconds(s))),
        }
    }

    pub fn get(self) -> TimeDelta {
        self.0
    }

    pub fn seconds(self) -> i64 {
        self.0.num_seconds()
    }
}

/// The shortest spelling in the grammar: `7d`, `36h`, `90m`, `45s`.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds();
        let (count, unit) = [(86_400, 'd'), (3_600, 'h'), (60, 'm')]
            .into_iter()
            .find(|(unit, _)| s % unit == 0)
            .map_or((s, 's'), |(unit, name)| (s / unit, name));
        write!(f, "{count}{unit}")
    }
}

/// A point in time written as a span ago (`7d`: seven days before `now`) or as an instant.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SpanError> {
    if let Ok(span) = Span::parse(text) {
        return Ok(now - span.get());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| SpanError::NeitherSpanNorInstant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_units_people_write_parse() {
        assert_eq!(Span::parse("90s").unwrap().seconds(), 90);
        assert_eq!(Span::parse("30m").unwrap().seconds(), 1_800);
        assert_eq!(Span::parse("12h").unwrap().seconds(), 43_200);
        assert_eq!(Span::parse("7d").unwrap().seconds(), 604_800);
    }

    #[test]
    fn anything_else_is_refused_with_the_grammar_in_the_message() {
        for bad in ["", "d", "7", "7 d", " 7d", "7d ", "-7d", "+7d", "1.5d", "7D", "7w", "1h30m", "７d", "7é"]
        {
            assert_eq!(Span::parse(bad), Err(SpanError::Unparseable), "{bad:?}");
        }
        assert_eq!(Span::parse("0d"), Err(SpanError::Zero));
        assert_eq!(Span::parse("3661d"), Err(SpanError::TooLong));
        assert_eq!(Span::parse("999999999999d"), Err(SpanError::TooLong));
        assert!(SpanError::Unparseable.to_string().contains("7d"));
    }

    #[test]
    fn since_takes_a_span_ago_or_an_instant() {
        let now = DateTime::parse_from_rfc3339("2027-01-31T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_since("1d", now).unwrap(), now - TimeDelta::days(1));
        assert_eq!(
            parse_since("2027-01-01T00:00:00+01:00", now).unwrap(),
            DateTime::parse_from_rfc3339("2026-12-31T23:00:00Z").unwrap()
        );
        assert_eq!(parse_since("yesterday", now), Err(SpanError::NeitherSpanNorInstant));
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_span(seconds in 1..=MAX_SECONDS) {
            let span = Span::from_seconds(seconds).unwrap();
            prop_assert_eq!(Span::parse(&span.to_string()).unwrap(), span);
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,16}") {
            let _ = Span::parse(&text);
        }
    }
}
