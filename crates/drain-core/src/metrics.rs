//! What an operator counts: the facts a drain step reports ([`Fact`]), which CloudWatch metric
//! each one yields ([`samples_of`], pure and table-tested), and their rendering as CloudWatch
//! Embedded Metric Format documents ([`emf_documents`]): one JSON log line per invocation
//! (more only when completions with different dimensions share one invocation), which
//! CloudWatch Logs turns into metrics without an API call.
//!
//! Every metric is emitted under the empty dimension set, so the stack's alarms need no
//! dimensions; `DrainsCompleted` and `DrainDuration` are also emitted by `Result` and `Reason`.

use serde_json::{Map, Value, json};

use crate::decision::spot::EarlyDrainKind;
use crate::record::{CompletionReason, LifecycleResult};

pub mod launch;

/// A drain started: a new drain record was written for a terminate notice.
pub const DRAINS_STARTED: &str = "DrainsStarted";
/// A lifecycle action was completed (dimensions `Result`, `Reason`).
pub const DRAINS_COMPLETED: &str = "DrainsCompleted";
/// Seconds from a drain's start to its completion (dimensions `Result`, `Reason`).
pub const DRAIN_DURATION: &str = "DrainDuration";
/// The lifecycle action was gone before ecs-drain completed it: the hook ran out first, and
/// the instance was terminated (or kept) by the hook's default result.
pub const DRAINS_EXPIRED: &str = "DrainsExpired";
/// A drain reached its deadline: remaining tasks were stopped, or the action abandoned.
pub const DEADLINES_ENFORCED: &str = "DeadlinesEnforced";
/// A drain found services that can never move their tasks (once per drain).
pub const STUCK_SERVICES: &str = "StuckServices";
/// An input was refused as malformed.
pub const REFUSED_EVENTS: &str = "RefusedEvents";
/// An input failed permanently (including deployment errors).
pub const PERMANENT_FAILURES: &str = "PermanentFailures";
/// Seconds left before the hook's global timeout, on each scheduled check.
pub const HOOK_SECONDS_LEFT: &str = "HookSecondsLeft";
/// A drain event could not be published to EventBridge (best effort: the drain went on).
pub const EVENTS_NOT_PUBLISHED: &str = "EventsNotPublished";

/// A drain started on a Spot interruption warning, ahead of any lifecycle action.
pub const INTERRUPTION_DRAINS_STARTED: &str = "InterruptionDrainsStarted";
/// A drain started on a rebalance recommendation, ahead of any lifecycle action.
pub const REBALANCE_DRAINS_STARTED: &str = "RebalanceDrainsStarted";
/// An interruption drain found replica services that cannot move within the two-minute
/// horizon (minimumHealthyPercent 100 or more), once per drain.
pub const IMMOVABLE_WITHIN_HORIZON: &str = "ServicesImmovableWithinHorizon";
/// A drained group also carries ECS managed draining's hook (once per drain).
pub const MANAGED_DRAINING_COEXISTS: &str = "ManagedDrainingCoexists";
/// The dimension of a completion's lifecycle result (`CONTINUE` / `ABANDON`).
pub const DIMENSION_RESULT: &str = "Result";
/// The dimension of a completion's reason (`Drained`, `DeadlineEnforced`, `DeadlineAbandoned`).
pub const DIMENSION_REASON: &str = "Reason";

/// How many facts one invocation keeps; the rest are dropped (an invocation handles at most
/// a few inputs, so this only bounds a runaway).
pub const MAX_FACTS: usize = 64;
/// How many EMF documents one invocation writes at most.
pub const MAX_DOCUMENTS: usize = 4;

/// Something that happened in a drain step that an operator counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fact {
    /// A new drain record was written.
    DrainStarted,
    /// A lifecycle action was completed.
    DrainCompleted {
        /// The result sent.
        result: LifecycleResult,
        /// Why.
        reason: CompletionReason,
        /// Seconds since the drain started.
        duration_seconds: i64,
    },
    /// The lifecycle action was already gone.
    DrainExpired,
    /// The drain's deadline was enforced (tasks stopped, or the action abandoned).
    DeadlineEnforced,
    /// The drain found services that can never move, for the first time.
    StuckServices,
    /// A check ran with this many seconds left before the hook's global timeout.
    HookSecondsLeft(i64),
    /// An input was refused.
    RefusedEvent,
    /// An input failed permanently or with a deployment error.
    PermanentFailure,
    /// A drain started ahead of any lifecycle action.
    EarlyDrainStarted(EarlyDrainKind),
    /// An interruption drain found services that cannot move within its horizon.
    ImmovableWithinHorizon,
    /// The drained group also carries ECS managed draining's hook.
    ManagedDrainingCoexists,
    /// Launch readiness counted this.
    Launch(launch::LaunchFact),
    /// A drain event was not published (best effort: the drain went on).
    EventsNotPublished,
}

/// A CloudWatch unit ecs-drain uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// A duration in seconds.
    Seconds,
}

impl Unit {
    /// The CloudWatch name of the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One metric value with its dimensions (beyond the empty set every metric has).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// The value.
    pub value: f64,
    /// Dimension name and value pairs; empty for metrics only under the empty set.
    pub dimensions: Vec<(&'static str, &'static str)>,
}

fn reason_name(reason: CompletionReason) -> &'static str {
    match reason {
        CompletionReason::Drained => "Drained",
        CompletionReason::DeadlineAbandoned => "DeadlineAbandoned",
        CompletionReason::DeadlineEnforced => "DeadlineEnforced",
        CompletionReason::SentAgain => "SentAgain",
    }
}

fn count(name: &'static str) -> Sample {
    Sample {
        name,
        unit: Unit::Count,
        value: 1.0,
        dimensions: Vec::new(),
    }
}

/// A completion's two samples, `count_name` 1 and `duration_name` in seconds, both with the
/// `Result` and `Reason` dimensions (drains and launches report completions alike).
fn completion_samples(
    (count_name, duration_name): (&'static str, &'static str),
    result: &'static str,
    reason: &'static str,
    duration_seconds: i64,
) -> Vec<Sample> {
    let dimensions = vec![(DIMENSION_RESULT, result), (DIMENSION_REASON, reason)];
    vec![
        Sample {
            name: count_name,
            unit: Unit::Count,
            value: 1.0,
            dimensions: dimensions.clone(),
        },
        Sample {
            name: duration_name,
            unit: Unit::Seconds,
            value: duration_seconds.max(0) as f64,
            dimensions,
        },
    ]
}

/// The metrics a fact yields. Pure.
pub fn samples_of(fact: &Fact) -> Vec<Sample> {
    match *fact {
        Fact::DrainStarted => vec![count(DRAINS_STARTED)],
        Fact::DrainCompleted {
            result,
            reason,
            duration_seconds,
        } => {
            let mut samples = completion_samples(
                (DRAINS_COMPLETED, DRAIN_DURATION),
                result.as_str(),
                reason_name(reason),
                duration_seconds,
            );
            // An abandon at the deadline is the deadline enforced too; a stop-and-continue
            // deadline was already counted when the tasks were stopped.
            if reason == CompletionReason::DeadlineAbandoned {
                samples.push(count(DEADLINES_ENFORCED));
            }
            samples
        }
        Fact::DrainExpired => vec![count(DRAINS_EXPIRED)],
        Fact::DeadlineEnforced => vec![count(DEADLINES_ENFORCED)],
        Fact::StuckServices => vec![count(STUCK_SERVICES)],
        Fact::HookSecondsLeft(seconds) => {
            vec![Sample {
                name: HOOK_SECONDS_LEFT,
                unit: Unit::Seconds,
                value: seconds.max(0) as f64,
                dimensions: Vec::new(),
            }]
        }
        Fact::RefusedEvent => vec![count(REFUSED_EVENTS)],
        Fact::PermanentFailure => vec![count(PERMANENT_FAILURES)],
        Fact::EarlyDrainStarted(kind) => match kind {
            EarlyDrainKind::Interruption => vec![count(INTERRUPTION_DRAINS_STARTED)],
            EarlyDrainKind::Rebalance => vec![count(REBALANCE_DRAINS_STARTED)],
        },
        Fact::ImmovableWithinHorizon => vec![count(IMMOVABLE_WITHIN_HORIZON)],
        Fact::ManagedDrainingCoexists => vec![count(MANAGED_DRAINING_COEXISTS)],
        Fact::Launch(fact) => launch::samples_of(&fact),
        Fact::EventsNotPublished => vec![count(EVENTS_NOT_PUBLISHED)],
    }
}

/// One document's metrics under one set of dimension values: counts summed, other values
/// listed (EMF takes an array of values per metric).
#[derive(Default)]
struct Group {
    dimensions: Vec<(&'static str, &'static str)>,
    metrics: Vec<(&'static str, Unit, Vec<f64>)>,
}

impl Group {
    fn add(&mut self, sample: &Sample) {
        match self
            .metrics
            .iter_mut()
            .find(|(name, _, _)| *name == sample.name)
        {
            Some((_, Unit::Count, values)) => values[0] += sample.value,
            Some((_, _, values)) => values.push(sample.value),
            None => self
                .metrics
                .push((sample.name, sample.unit, vec![sample.value])),
        }
    }
}

/// The EMF documents for `facts`, stamped `timestamp_ms` (milliseconds since the epoch), in
/// `namespace`: none without facts, one in the common case, one more per further set of
/// completion dimensions (at most [`MAX_DOCUMENTS`]). Pure.
pub fn emf_documents(namespace: &str, timestamp_ms: i64, facts: &[Fact]) -> Vec<Value> {
    // The first group takes the dimensionless metrics and the first completion's dimensions;
    // a completion with other dimension values needs a document of its own, because a
    // dimension has one value per document.
    let mut groups: Vec<Group> = vec![Group::default()];
    for sample in facts.iter().take(MAX_FACTS).flat_map(samples_of) {
        let index = if sample.dimensions.is_empty() {
            0
        } else {
            match groups
                .iter()
                .position(|group| group.dimensions == sample.dimensions)
            {
                Some(index) => index,
                None if groups[0].dimensions.is_empty() => {
                    groups[0].dimensions = sample.dimensions.clone();
                    0
                }
                None => {
                    groups.push(Group {
                        dimensions: sample.dimensions.clone(),
                        metrics: Vec::new(),
                    });
                    groups.len() - 1
                }
            }
        };
        groups[index].add(&sample);
    }
    groups
        .into_iter()
        .filter(|group| !group.metrics.is_empty())
        .take(MAX_DOCUMENTS)
        .map(|group| document(namespace, timestamp_ms, &group))
        .collect()
}

fn document(namespace: &str, timestamp_ms: i64, group: &Group) -> Value {
    let definition = |name: &str, unit: Unit| json!({ "Name": name, "Unit": unit.as_str() });
    let dimensioned: Vec<Value> = if group.dimensions.is_empty() {
        Vec::new()
    } else {
        group
            .metrics
            .iter()
            .filter(|(name, _, _)| matches!(*name, DRAINS_COMPLETED | DRAIN_DURATION))
            .map(|(name, unit, _)| definition(name, *unit))
            .collect()
    };
    let plain: Vec<Value> = group
        .metrics
        .iter()
        .filter(|(name, _, _)| {
            group.dimensions.is_empty() || !matches!(*name, DRAINS_COMPLETED | DRAIN_DURATION)
        })
        .map(|(name, unit, _)| definition(name, *unit))
        .collect();
    let mut directives = Vec::new();
    if !plain.is_empty() {
        directives.push(json!({ "Namespace": namespace, "Dimensions": [[]], "Metrics": plain }));
    }
    if !dimensioned.is_empty() {
        let keys: Vec<&str> = group.dimensions.iter().map(|(key, _)| *key).collect();
        directives.push(
            json!({ "Namespace": namespace, "Dimensions": [[], keys], "Metrics": dimensioned }),
        );
    }
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({ "Timestamp": timestamp_ms, "CloudWatchMetrics": directives }),
    );
    for (key, value) in &group.dimensions {
        root.insert((*key).into(), Value::from(*value));
    }
    for (name, _, values) in &group.metrics {
        let value = match values.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        root.insert((*name).into(), value);
    }
    Value::Object(root)
}

/// The units CloudWatch accepts (the `StandardUnit` values of PutMetricData).
const CLOUDWATCH_UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one log line's JSON against the Embedded Metric Format specification: `_aws` with a
/// millisecond `Timestamp` and a non-empty `CloudWatchMetrics` array of directives, each with a
/// `Namespace`, `Dimensions` (an array of arrays of at most 30 keys, each a top-level string
/// member) and `Metrics` (at most 100 definitions with a `Name` and an optional valid `Unit`,
/// each a top-level number or array of at most 100 numbers). Used by the tests of the functions'
/// real log lines too (it is small and pure, so it is always built; unused, it is dropped from
/// the binaries at link time).
pub fn validate_emf(line: &Value) -> Result<(), String> {
    let root = line.as_object().ok_or("an EMF document is a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("_aws must be an object")?;
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or("_aws.Timestamp must be an integer number")?;
    // Milliseconds since the epoch: between 2001 and 2286 that is 13 digits.
    if !(1_000_000_000_000..10_000_000_000_000).contains(&timestamp) {
        return Err(format!(
            "_aws.Timestamp {timestamp} is not milliseconds since the epoch"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics must be an array")?;
    if directives.is_empty() {
        return Err("_aws.CloudWatchMetrics is empty".into());
    }
    for directive in directives {
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("a directive needs a Namespace string")?;
        if namespace.is_empty() || namespace.len() > 1024 {
            return Err(format!(
                "Namespace {namespace:?} must be 1 to 1024 characters"
            ));
        }
        let dimension_sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("a directive needs a Dimensions array")?;
        for set in dimension_sets {
            let keys = set
                .as_array()
                .ok_or("each entry of Dimensions must be an array (a dimension set)")?;
            if keys.len() > 30 {
                return Err(format!(
                    "a dimension set has {} keys; at most 30",
                    keys.len()
                ));
            }
            for key in keys {
                let key = key.as_str().ok_or("dimension keys are strings")?;
                match root.get(key) {
                    Some(Value::String(value)) if !value.is_empty() && value.len() <= 1024 => {}
                    _ => {
                        return Err(format!(
                            "dimension {key} must be a top-level string member of 1 to 1024 \
                             characters"
                        ));
                    }
                }
            }
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("a directive needs a Metrics array")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err(format!(
                "a directive has {} metrics; 1 to 100",
                metrics.len()
            ));
        }
        for metric in metrics {
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a metric needs a Name string")?;
            if name.is_empty() || name.len() > 1024 {
                return Err(format!("metric name {name:?} must be 1 to 1024 characters"));
            }
            match metric.get("Unit") {
                None => {}
                Some(Value::String(unit)) if CLOUDWATCH_UNITS.contains(&unit.as_str()) => {}
                Some(other) => {
                    return Err(format!(
                        "metric {name} has unit {other}, not a CloudWatch unit"
                    ));
                }
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if !values.is_empty()
                        && values.len() <= 100
                        && values.iter().all(Value::is_number) => {}
                other => {
                    return Err(format!(
                        "metric {name} must be a top-level number (or up to 100 numbers), found \
                         {other:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_793_645_030_123;

    /// A sample as the table writes it: name, unit, value, dimensions.
    type Row = (
        &'static str,
        &'static str,
        f64,
        Vec<(&'static str, &'static str)>,
    );

    fn names(fact: Fact) -> Vec<Row> {
        samples_of(&fact)
            .into_iter()
            .map(|sample| {
                (
                    sample.name,
                    sample.unit.as_str(),
                    sample.value,
                    sample.dimensions,
                )
            })
            .collect()
    }

    #[test]
    fn each_fact_yields_its_metrics() {
        let completed = |result, reason| Fact::DrainCompleted {
            result,
            reason,
            duration_seconds: 312,
        };
        let table: Vec<(Fact, Vec<Row>)> = vec![
            (
                Fact::DrainStarted,
                vec![("DrainsStarted", "Count", 1.0, vec![])],
            ),
            (
                completed(LifecycleResult::Continue, CompletionReason::Drained),
                vec![
                    (
                        "DrainsCompleted",
                        "Count",
                        1.0,
                        vec![("Result", "CONTINUE"), ("Reason", "Drained")],
                    ),
                    (
                        "DrainDuration",
                        "Seconds",
                        312.0,
                        vec![("Result", "CONTINUE"), ("Reason", "Drained")],
                    ),
                ],
            ),
            (
                completed(
                    LifecycleResult::Continue,
                    CompletionReason::DeadlineEnforced,
                ),
                vec![
                    (
                        "DrainsCompleted",
                        "Count",
                        1.0,
                        vec![("Result", "CONTINUE"), ("Reason", "DeadlineEnforced")],
                    ),
                    (
                        "DrainDuration",
                        "Seconds",
                        312.0,
                        vec![("Result", "CONTINUE"), ("Reason", "DeadlineEnforced")],
                    ),
                ],
            ),
            (
                completed(
                    LifecycleResult::Abandon,
                    CompletionReason::DeadlineAbandoned,
                ),
                vec![
                    (
                        "DrainsCompleted",
                        "Count",
                        1.0,
                        vec![("Result", "ABANDON"), ("Reason", "DeadlineAbandoned")],
                    ),
                    (
                        "DrainDuration",
                        "Seconds",
                        312.0,
                        vec![("Result", "ABANDON"), ("Reason", "DeadlineAbandoned")],
                    ),
                    ("DeadlinesEnforced", "Count", 1.0, vec![]),
                ],
            ),
            (
                Fact::DrainExpired,
                vec![("DrainsExpired", "Count", 1.0, vec![])],
            ),
            (
                Fact::DeadlineEnforced,
                vec![("DeadlinesEnforced", "Count", 1.0, vec![])],
            ),
            (
                Fact::EarlyDrainStarted(EarlyDrainKind::Interruption),
                vec![("InterruptionDrainsStarted", "Count", 1.0, vec![])],
            ),
            (
                Fact::EarlyDrainStarted(EarlyDrainKind::Rebalance),
                vec![("RebalanceDrainsStarted", "Count", 1.0, vec![])],
            ),
            (
                Fact::ImmovableWithinHorizon,
                vec![("ServicesImmovableWithinHorizon", "Count", 1.0, vec![])],
            ),
            (
                Fact::ManagedDrainingCoexists,
                vec![("ManagedDrainingCoexists", "Count", 1.0, vec![])],
            ),
            (
                Fact::StuckServices,
                vec![("StuckServices", "Count", 1.0, vec![])],
            ),
            (
                Fact::HookSecondsLeft(5400),
                vec![("HookSecondsLeft", "Seconds", 5400.0, vec![])],
            ),
            (
                Fact::HookSecondsLeft(-3),
                vec![("HookSecondsLeft", "Seconds", 0.0, vec![])],
            ),
            (
                Fact::RefusedEvent,
                vec![("RefusedEvents", "Count", 1.0, vec![])],
            ),
            (
                Fact::PermanentFailure,
                vec![("PermanentFailures", "Count", 1.0, vec![])],
            ),
            (
                Fact::EventsNotPublished,
                vec![("EventsNotPublished", "Count", 1.0, vec![])],
            ),
        ];
        for (fact, expected) in table {
            assert_eq!(names(fact), expected, "{fact:?}");
        }
    }

    #[test]
    fn no_facts_write_no_line() {
        assert_eq!(emf_documents("ecs-drain", NOW_MS, &[]), Vec::<Value>::new());
    }

    #[test]
    fn one_invocation_is_one_document_with_every_metric_under_the_empty_dimension_set() {
        let facts = [
            Fact::HookSecondsLeft(5400),
            Fact::DrainCompleted {
                result: LifecycleResult::Continue,
                reason: CompletionReason::Drained,
                duration_seconds: 312,
            },
        ];
        let documents = emf_documents("ecs-drain", NOW_MS, &facts);
        assert_eq!(documents.len(), 1);
        let document = &documents[0];
        assert_eq!(validate_emf(document), Ok(()));
        assert_eq!(
            document,
            &json!({
                "_aws": {
                    "Timestamp": NOW_MS,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "ecs-drain",
                            "Dimensions": [[]],
                            "Metrics": [{ "Name": "HookSecondsLeft", "Unit": "Seconds" }]
                        },
                        {
                            "Namespace": "ecs-drain",
                            "Dimensions": [[], ["Result", "Reason"]],
                            "Metrics": [
                                { "Name": "DrainsCompleted", "Unit": "Count" },
                                { "Name": "DrainDuration", "Unit": "Seconds" }
                            ]
                        }
                    ]
                },
                "Result": "CONTINUE",
                "Reason": "Drained",
                "HookSecondsLeft": 5400.0,
                "DrainsCompleted": 1.0,
                "DrainDuration": 312.0
            })
        );
    }

    #[test]
    fn counts_add_up_and_durations_are_listed() {
        let facts = [
            Fact::RefusedEvent,
            Fact::RefusedEvent,
            Fact::HookSecondsLeft(60),
            Fact::HookSecondsLeft(120),
        ];
        let documents = emf_documents("ops/ecs-drain", NOW_MS, &facts);
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0]["RefusedEvents"], json!(2.0));
        assert_eq!(documents[0]["HookSecondsLeft"], json!([60.0, 120.0]));
        assert_eq!(validate_emf(&documents[0]), Ok(()));
    }

    #[test]
    fn completions_with_other_dimensions_get_a_document_each_and_the_number_is_bounded() {
        let completed = |result, reason| Fact::DrainCompleted {
            result,
            reason,
            duration_seconds: 10,
        };
        let mut facts = vec![
            Fact::DrainStarted,
            completed(LifecycleResult::Continue, CompletionReason::Drained),
            completed(
                LifecycleResult::Abandon,
                CompletionReason::DeadlineAbandoned,
            ),
            completed(LifecycleResult::Continue, CompletionReason::Drained),
        ];
        let documents = emf_documents("ecs-drain", NOW_MS, &facts);
        assert_eq!(documents.len(), 2);
        assert_eq!(
            (&documents[0]["Reason"], &documents[0]["DrainsCompleted"]),
            (&json!("Drained"), &json!(2.0))
        );
        assert_eq!(
            (&documents[1]["Reason"], &documents[1]["DrainsCompleted"]),
            (&json!("DeadlineAbandoned"), &json!(1.0))
        );
        assert_eq!(documents[0]["DrainsStarted"], json!(1.0));
        assert!(
            documents
                .iter()
                .all(|document| validate_emf(document).is_ok())
        );
        facts.extend(std::iter::repeat_n(Fact::PermanentFailure, 1000));
        facts.push(completed(
            LifecycleResult::Continue,
            CompletionReason::DeadlineEnforced,
        ));
        let documents = emf_documents("ecs-drain", NOW_MS, &facts);
        assert!(documents.len() <= MAX_DOCUMENTS);
        assert_eq!(
            documents[0]["PermanentFailures"],
            json!((MAX_FACTS - 4) as f64),
            "facts beyond the bound are dropped"
        );
        assert!(
            documents
                .iter()
                .all(|document| document.to_string().len() < 4096),
            "a line stays small"
        );
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would_not_extract() {
        let good = emf_documents("ecs-drain", NOW_MS, &[Fact::DrainStarted]).remove(0);
        assert_eq!(validate_emf(&good), Ok(()));
        let broken = |change: &dyn Fn(&mut Value)| {
            let mut document = good.clone();
            change(&mut document);
            validate_emf(&document)
        };
        assert!(
            broken(&|d| d["_aws"]["Timestamp"] = json!(NOW_MS / 1000)).is_err(),
            "seconds, not milliseconds"
        );
        assert!(broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = Value::Null).is_err());
        assert!(
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!(["Result"]))
                .is_err(),
            "an array of arrays"
        );
        assert!(
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([["Result"]]))
                .is_err(),
            "no Result member"
        );
        let thirty_one: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
        assert!(
            broken(&|d| {
                for key in &thirty_one {
                    d[key.as_str()] = json!("x");
                }
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([thirty_one]);
            })
            .is_err()
        );
        assert!(
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Drains"))
                .is_err()
        );
        assert!(
            broken(&|d| d["DrainsStarted"] = json!("1")).is_err(),
            "a value is a number"
        );
        assert!(
            broken(&|d| {
                if let Some(root) = d.as_object_mut() {
                    root.remove("DrainsStarted");
                }
            })
            .is_err(),
            "a metric needs its value"
        );
        assert!(validate_emf(&json!({"message": "not EMF"})).is_err());
    }
}
