//! The functions' log subscriber: lambda_runtime's default one (the same level and format
//! settings from Lambda's advanced logging controls, `AWS_LAMBDA_LOG_FORMAT`,
//! `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG`), except that in JSON the fields named in
//! [`drain_core::logs::ARRAY_FIELDS`] are written as JSON arrays rather than as strings, so
//! that Logs Insights reads them as lists (`fields.task_arns.0`, ...).
//!
//! tracing records a field as a number, a bool or a string; a structured value needs
//! `valuable`, which tracing only offers behind the unstable `tracing_unstable` cfg. So each
//! JSON line is formatted by tracing-subscriber's own JSON format, then those fields are read
//! back as arrays: one parse per line, of lines that are bounded anyway.

use std::fmt;

use lambda_runtime::tracing::subscriber;
use serde_json::{Map, Value};
use subscriber::filter::{EnvFilter, LevelFilter};
use subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use subscriber::fmt::{FmtContext, FormattedFields};
use subscriber::registry::LookupSpan;
use tracing::{Event, Subscriber};

/// Installs the functions' subscriber (see the module documentation). Call once, first.
pub fn init_subscriber() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_writer(std::io::stdout);
    if json {
        let format = subscriber::fmt::format()
            .json()
            .with_target(false)
            .without_time();
        builder.json().event_format(ArraysAsArrays(format)).init();
    } else {
        builder.init();
    }
}

/// A JSON event format that writes [`drain_core::logs::ARRAY_FIELDS`] as arrays.
struct ArraysAsArrays<E>(E);

impl<S, N, E> FormatEvent<S, N> for ArraysAsArrays<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    E: FormatEvent<S, N>,
    FormattedFields<N>: Send + Sync,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&with_arrays(&line, &drain_core::logs::ARRAY_FIELDS))
    }
}

/// `line` (one JSON log line) with each field in `names` whose text is a JSON array written
/// as that array, in `fields`, `span` and every entry of `spans`. A line that is not JSON is
/// left as it is. Pure.
pub fn with_arrays(line: &str, names: &[&str]) -> String {
    let Ok(Value::Object(mut document)) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    for key in ["fields", "span"] {
        if let Some(Value::Object(fields)) = document.get_mut(key) {
            parse_arrays(fields, names);
        }
    }
    if let Some(Value::Array(spans)) = document.get_mut("spans") {
        for span in spans {
            if let Value::Object(fields) = span {
                parse_arrays(fields, names);
            }
        }
    }
    let mut text = Value::Object(document).to_string();
    text.push('\n');
    text
}

fn parse_arrays(fields: &mut Map<String, Value>, names: &[&str]) {
    for name in names {
        let parsed = match fields.get(*name) {
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(array @ Value::Array(_)) => array,
                _ => continue,
            },
            _ => continue,
        };
        fields.insert((*name).to_owned(), parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_fields_holding_json_arrays_become_arrays_everywhere_else_untouched() {
        let line = r#"{"level":"INFO","fields":{"message":"m","task_arns":"[\"a\",\"b\"]","other":"[\"x\"]","services":"not [json"},"span":{"services":"[]","name":"s"},"spans":[{"task_arns":"[\"c\"]","name":"s"}]}"#;
        let fixed: Value = serde_json::from_str(&with_arrays(line, &["task_arns", "services"]))
            .expect("still JSON");
        assert_eq!(fixed["fields"]["task_arns"], serde_json::json!(["a", "b"]));
        assert_eq!(fixed["fields"]["other"], "[\"x\"]", "only the named fields");
        assert_eq!(fixed["fields"]["services"], "not [json");
        assert_eq!(fixed["fields"]["message"], "m");
        assert_eq!(fixed["span"]["services"], serde_json::json!([]));
        assert_eq!(fixed["spans"][0]["task_arns"], serde_json::json!(["c"]));
        assert!(with_arrays(line, &[]).ends_with('\n'));
        assert_eq!(with_arrays("plain text\n", &["x"]), "plain text\n");
    }
}
