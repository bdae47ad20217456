//! How results are shown: the API's JSON with `--json`, a table on a terminal, tab-separated
//! lines (no header) when piped; times relative to now ("in 6 days", "never") for people, as
//! RFC 3339 for scripts. Colour only on a terminal and never with `NO_COLOR` (anstream).

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Json,
    Table,
    Lines,
}

impl Mode {
    pub fn detect(json: bool) -> Self {
        match (json, std::io::stdout().is_terminal()) {
            (true, _) => Self::Json,
            (false, true) => Self::Table,
            (false, false) => Self::Lines,
        }
    }

    pub fn is_human(self) -> bool {
        self == Self::Table
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    println!("{text}");
}

/// A column: its header and how to show a row's cell.
pub struct Column<'a> {
    pub header: &'static str,
    pub cell: &'a dyn Fn(&Value, Mode) -> String,
}

/// Rows as a table (terminal) or tab-separated lines (piped).
pub fn rows(mode: Mode, columns: &[Column<'_>], items: &[Value]) {
    match mode {
        Mode::Json => json(&Value::Array(items.to_vec())),
        Mode::Lines => {
            let mut out = std::io::stdout().lock();
            for item in items {
                let cells: Vec<String> = columns.iter().map(|c| (c.cell)(item, mode)).collect();
                let _ = writeln!(out, "{}", cells.join("\t"));
            }
        }
        Mode::Table => {
            if items.is_empty() {
                eprintln!("(none)");
                return;
            }
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::NOTHING);
            table.set_header(columns.iter().map(|c| c.header));
            for item in items {
                table.add_row(columns.iter().map(|c| (c.cell)(item, mode)));
            }
            println!("{table}");
        }
    }
}

/// `label: value` lines for one object (terminal and piped alike).
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for (label, value) in pairs {
        let _ = writeln!(out, "{label:<width$}  {value}");
    }
}

/// A string field, or "-" when null or missing.
pub fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A list of strings, comma-separated.
pub fn list(value: &Value, field: &str) -> String {
    value[field]
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// A time field: relative for people ("in 6 days (2027-01-31T23:59:59.000Z)" in details,
/// "in 6 days" in tables), as sent for scripts; `never_as` when null.
pub fn time(value: &Value, field: &str, mode: Mode, never_as: &str) -> String {
    match value[field].as_str() {
        None => never_as.to_owned(),
        Some(at) if !mode.is_human() => at.to_owned(),
        Some(at) => DateTime::parse_from_rfc3339(at)
            .map(|t| relative(t.with_timezone(&Utc), Utc::now()))
            .unwrap_or_else(|_| at.to_owned()),
    }
}

/// "in 6 days", "3 hours ago", "just now".
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    let magnitude = seconds.unsigned_abs();
    let (count, unit) = match magnitude {
        0..45 => return "just now".into(),
        45..5_400 => (magnitude.div_ceil(60).max(1), "minute"),
        5_400..172_800 => ((magnitude + 1_800) / 3_600, "hour"),
        _ => ((magnitude + 43_200) / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    if seconds > 0 { format!("in {count} {unit}{plural}") } else { format!("{count} {unit}{plural} ago") }
}

/// A warning on stderr, in colour on a terminal.
pub fn warn(message: &str) {
    let style = anstyle::Style::new().bold().fg_color(Some(anstyle::AnsiColor::Yellow.into()));
    let _ = writeln!(anstream::stderr(), "{style}warning:{style:#} {message}");
}

/// A note on stderr (what a script does not read).
pub fn note(message: &str) {
    eprintln!("{message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn relative_times_read_as_people_say_them() {
        let now = Utc::now();
        assert_eq!(relative(now + TimeDelta::days(6), now), "in 6 days");
        assert_eq!(relative(now + TimeDelta::days(6) - TimeDelta::seconds(30), now), "in 6 days");
        assert_eq!(relative(now - TimeDelta::hours(3), now), "3 hours ago");
        assert_eq!(relative(now + TimeDelta::minutes(1), now), "in 1 minute");
        assert_eq!(relative(now, now), "just now");
    }
}
