//! One log schema for every decision line (issue 13 §3). Each use case runs in a span that
//! carries the drain's four keys, [`DRAIN_KEYS`], under the same names on every line
//! (`span.ec2_instance_id`, ... in the functions' JSON logs), recorded as soon as the use case
//! knows them ([`record_drain`]). Lists are logged as JSON arrays: a field named in
//! [`ARRAY_FIELDS`] holds the JSON text of an array ([`json_array`], capped), which the
//! functions' log formatter (drain_aws::logging) writes as an array, not as a string.

use std::fmt;

use crate::ids::TaskArn;
use crate::record::{AliveSet, DrainRecord};
use crate::time::Timestamp;

/// The keys that name a drain on every decision line: the EC2 instance, the container
/// instance ARN, the cluster ARN and the lifecycle token's prefix (never the whole token).
pub const DRAIN_KEYS: [&str; 4] = [
    "ec2_instance_id",
    "container_instance_arn",
    "cluster",
    "token_prefix",
];

/// Fields logged as JSON arrays: `services` (services that can never move), `task_arns` (the
/// tasks ecs-drain asked ECS to stop) and `waiting_tasks` (the tasks a drain waits for).
pub const ARRAY_FIELDS: [&str; 3] = ["services", "task_arns", "waiting_tasks"];

/// Most task ARNs one line lists (`task_arns`): about 2 KB of ARNs; the rest are counted in
/// `task_arns_omitted`.
pub const MAX_LOGGED_ARNS: usize = 20;
/// Most services one line lists (`services`).
pub const MAX_LOGGED_SERVICES: usize = 25;
/// Longest item kept in a logged array (an ARN is at most about 200 characters).
pub const MAX_ITEM_CHARS: usize = 256;

/// The JSON text of an array of strings, for a field in [`ARRAY_FIELDS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonArray(String);

impl fmt::Display for JsonArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The first `max` of `items` (each cut to [`MAX_ITEM_CHARS`] characters) as a JSON array,
/// and how many were left out.
pub fn json_array<I, T>(items: I, max: usize) -> (JsonArray, usize)
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    let mut kept = Vec::new();
    let mut omitted = 0usize;
    for item in items {
        if kept.len() < max {
            kept.push(
                item.as_ref()
                    .chars()
                    .take(MAX_ITEM_CHARS)
                    .collect::<String>(),
            );
        } else {
            omitted += 1;
        }
    }
    // A list of strings always serializes; the fallback only keeps the function total.
    let text = serde_json::to_string(&kept).unwrap_or_else(|_| "[]".to_owned());
    (JsonArray(text), omitted)
}

/// The tasks ecs-drain asks ECS to stop, for `task_arns` (at most [`MAX_LOGGED_ARNS`]), and
/// how many more there were (`task_arns_omitted`).
pub fn task_arns(tasks: &[TaskArn]) -> (JsonArray, usize) {
    json_array(tasks.iter().map(TaskArn::as_str), MAX_LOGGED_ARNS)
}

/// The services that can never move, for `services`.
pub fn services(names: &[String]) -> JsonArray {
    json_array(names, MAX_LOGGED_SERVICES).0
}

/// The tasks a drain waits for, for `waiting_tasks`: the first `max` of `set`, each as
/// `group/short-id lastStatus for Ns` (the form of [`AliveSet::summary`]), then `and N more`
/// when the set holds more (or the census found more than it kept).
pub fn waiting_tasks(set: &AliveSet, now: Timestamp, max: usize) -> JsonArray {
    // A JSON array escapes what it holds: the values are shown as they are.
    json_array(set.lines(now, max, str::to_owned), max + 1).0
}

/// Records the drain's [`DRAIN_KEYS`] on `span` (a use case's span, which declares them).
pub fn record_drain(span: &tracing::Span, record: &DrainRecord) {
    span.record("ec2_instance_id", record.ec2_instance_id.as_str());
    span.record(
        "container_instance_arn",
        record.container_instance_arn.as_str(),
    );
    span.record("cluster", record.cluster_arn.as_str());
    span.record("token_prefix", record.token.prefix());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AliveKind, AliveTask};

    fn arn(n: usize) -> TaskArn {
        TaskArn::new(format!(
            "arn:aws:ecs:us-east-1:123456789012:task/prod/{n:032x}"
        ))
        .expect("task arn")
    }

    #[test]
    fn arrays_are_json_arrays_capped_with_the_rest_counted() {
        let (text, omitted) = json_array(["web", "a \"quoted\" name"], 5);
        assert_eq!(text.to_string(), r#"["web","a \"quoted\" name"]"#);
        assert_eq!(omitted, 0);
        let tasks: Vec<TaskArn> = (0..45).map(arn).collect();
        let (text, omitted) = task_arns(&tasks);
        let parsed: Vec<String> = serde_json::from_str(&text.to_string()).expect("JSON array");
        assert_eq!(parsed.len(), MAX_LOGGED_ARNS);
        assert_eq!(parsed[0], tasks[0].as_str());
        assert_eq!(omitted, 25);
        let long = "x".repeat(5000);
        let (text, _) = json_array([long.as_str()], 1);
        let parsed: Vec<String> = serde_json::from_str(&text.to_string()).expect("JSON array");
        assert_eq!(parsed[0].len(), MAX_ITEM_CHARS);
        assert_eq!(services(&[]).to_string(), "[]");
    }

    #[test]
    fn waiting_tasks_name_each_task_and_count_the_rest() {
        let task = |n: usize, group: &str| AliveTask {
            task_arn: arn(n),
            group: Some(group.to_owned()),
            kind: AliveKind::Replica,
            last_status: "RUNNING".to_owned(),
            alive_since: Timestamp(1_000),
        };
        let set = AliveSet {
            taken_at: Timestamp(1_030),
            tasks: vec![task(1, "service:web"), task(2, "service:api"), task(3, "x")],
            truncated: 4,
        };
        let listed: Vec<String> =
            serde_json::from_str(&waiting_tasks(&set, Timestamp(1_030), 2).to_string())
                .expect("JSON array");
        assert_eq!(
            listed,
            [
                "service:web/00000000 RUNNING for 30s",
                "service:api/00000000 RUNNING for 30s",
                "and 5 more"
            ]
        );
    }
}
