//! `--expires`: a span from now (`30d`), a bare date (the end of that day, UTC) or an RFC 3339
//! instant. The CLI resolves it to an instant and prints it before anything is created, so
//! what a person typed and what the key carries can be compared.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use nico_keys::Span;

pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(span) = Span::parse(text) {
        return Ok(now + span.get());
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let end = NaiveTime::from_hms_opt(23, 59, 59).expect("a valid time");
        return Ok(date.and_time(end).and_utc());
    }
    DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).map_err(|_| {
        format!(
            "--expires {text:?}: must be a span from now (30m, 12h, 30d), a date (2027-01-31, the end \
             of that day, UTC) or an RFC 3339 instant (2027-01-31T12:00:00Z)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_span_counts_from_now() {
        let now = at("2027-01-01T10:00:00Z");
        assert_eq!(parse_expiry("30d", now).unwrap(), at("2027-01-31T10:00:00Z"));
        assert_eq!(parse_expiry("12h", now).unwrap(), at("2027-01-01T22:00:00Z"));
    }

    #[test]
    fn a_bare_date_means_the_end_of_that_day_utc() {
        let now = at("2027-01-01T10:00:00Z");
        assert_eq!(parse_expiry("2027-01-31", now).unwrap(), at("2027-01-31T23:59:59Z"));
    }

    #[test]
    fn an_instant_is_taken_as_written_in_any_offset() {
        let now = at("2027-01-01T10:00:00Z");
        assert_eq!(parse_expiry("2027-01-31T12:00:00+01:00", now).unwrap(), at("2027-01-31T11:00:00Z"));
    }

    #[test]
    fn anything_else_is_refused_naming_the_three_forms() {
        let error = parse_expiry("next week", Utc::now()).unwrap_err();
        assert!(
            error.contains("30d") && error.contains("2027-01-31") && error.contains("RFC 3339"),
            "{error}"
        );
    }
}
