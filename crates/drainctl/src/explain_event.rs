//! `drainctl explain --event FILE`: what the functions would do with one captured or archived
//! event, against the live state, changing nothing.
//!
//! The event runs through the functions' own handler and decision code
//! ([`drain_core::preview`]) over the AWS adapters wrapped read-only: reads reach AWS, every
//! write and mutating call is recorded and printed instead of made. The settings are the
//! functions': their environment variables when set in drainctl's environment, else what the
//! named stack gives them (its parameters and outputs, as infra/template.yaml passes them on).

use std::path::Path;

use aws_config::SdkConfig;
use drain_aws::{AsgLifecycleHooks, DynamoDrainStore, EcsCluster};
use drain_core::config::{
    ENV_CLUSTERS, ENV_DEADLINE_POLICY, ENV_DEADLINE_SECONDS, ENV_HOOK_NAME, ENV_REPLAY_MODE,
    ENV_SCHEDULE_GROUP, ENV_SCHEDULE_ROLE_ARN, ENV_TABLE,
};
use drain_core::decision::verify::FunctionIdentity;
use drain_core::error::error_chain;
use drain_core::handler::Function;
use drain_core::ports::PortSet;
use drain_core::preview::{Preview, PreviewError, WouldCall, preview, read_only, unwrap_captured};
use drain_core::time::{Clock, SystemClock};
use drain_core::{Config, Drainer};
use serde_json::{Value, json};

use crate::aws::Names;
use crate::failure::{Exit, Failure};
use crate::{Output, Printed, print};

/// What the settings are read from, besides drainctl's environment.
pub(crate) struct Settings<'a> {
    /// `--table` (or ECS_DRAIN_TABLE).
    pub(crate) table: Option<&'a str>,
    /// `--schedule-group` (or ECS_DRAIN_SCHEDULE_GROUP).
    pub(crate) schedule_group: Option<&'a str>,
    /// The stack's parameters and outputs (empty without `--stack-name`).
    pub(crate) names: &'a Names,
}

/// The stack parameter infra/template.yaml passes to the functions as `variable`.
fn stack_parameter(variable: &str) -> Option<&'static str> {
    Some(match variable {
        ENV_CLUSTERS => "ClusterNames",
        ENV_HOOK_NAME => "HookName",
        ENV_DEADLINE_SECONDS => "DrainDeadlineSeconds",
        ENV_DEADLINE_POLICY => "DeadlinePolicy",
        ENV_REPLAY_MODE => "ReplayMode",
        _ => return None,
    })
}

/// The functions' settings: `env` (drainctl's environment) first, then the stack's values.
fn config(
    settings: &Settings<'_>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, Failure> {
    let names = settings.names;
    let lookup = |variable: &str| -> Option<String> {
        match variable {
            ENV_TABLE => settings
                .table
                .map(str::to_owned)
                .or_else(|| names.table.clone()),
            ENV_SCHEDULE_GROUP => settings
                .schedule_group
                .map(str::to_owned)
                .or_else(|| env(variable))
                .or_else(|| names.schedule_group.clone()),
            // A preview books no schedule, so the role is only the sign that checks are on.
            ENV_SCHEDULE_ROLE_ARN => env(variable).or_else(|| {
                (settings.schedule_group.is_some() || names.schedule_group.is_some())
                    .then(|| "(the stack's SchedulerRole)".to_owned())
            }),
            _ => env(variable).or_else(|| {
                stack_parameter(variable)
                    .and_then(|key| names.parameter(key))
                    .map(str::to_owned)
            }),
        }
    };
    Config::from_lookup(lookup).map_err(|error| {
        Failure::new(
            Exit::Usage,
            format!("the functions' settings are incomplete: {error}"),
            "pass --stack-name (the ecs-drain stack), or --table and the functions' ECS_DRAIN_* variables",
        )
    })
}

/// The event in `path`, unwrapped from a failure-queue record when it is one.
fn read_event(path: &Path) -> Result<Value, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|error| {
        Failure::new(
            Exit::Usage,
            format!("cannot read {shown}: {error}"),
            "--event takes a file holding one event as the function receives it",
        )
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|error| {
        Failure::new(
            Exit::Usage,
            format!("{shown} is not JSON: {error}"),
            "--event takes one JSON event (EventBridge, SNS, a scheduled check or a failure-queue record)",
        )
    })?;
    Ok(unwrap_captured(value))
}

/// The function's name as the stack's outputs name it.
fn function_name(function: Function) -> &'static str {
    match function {
        Function::OnLifecycle => "on-lifecycle",
        Function::OnTaskStopped => "on-task-stopped",
    }
}

/// Runs the event in `path` through the functions' decision code, read-only, and prints the
/// decision and the calls it would make.
pub(crate) async fn explain_event(
    output: Output,
    sdk: &SdkConfig,
    settings: Settings<'_>,
    path: &Path,
) -> Result<Exit, Failure> {
    let event = read_event(path)?;
    let config = config(&settings, |name| std::env::var(name).ok())?;
    let table = config.table_name.clone();
    // The function checks a notice's account and region against its own.
    let caller = crate::aws::caller_arn(sdk).await?;
    let own = FunctionIdentity {
        account: caller.split(':').nth(4).map(str::to_owned),
        region: sdk.region().map(ToString::to_string),
    };
    let (ports, calls) = read_only(PortSet {
        cluster: EcsCluster::new(aws_sdk_ecs::Client::new(sdk)),
        hooks: AsgLifecycleHooks::new(aws_sdk_autoscaling::Client::new(sdk)),
        store: DynamoDrainStore::new(aws_sdk_dynamodb::Client::new(sdk), &table),
        // Never called: the read-only scheduler records and has nothing to read.
        scheduler: (),
        clock: SystemClock,
    });
    let drainer = Drainer::new(ports, config);
    let previewed = preview(&drainer, &calls, &event, &own)
        .await
        .map_err(|error| match error {
            PreviewError::BadEvent(bad) => Failure::new(
                Exit::Usage,
                format!("{}: {}", path.display(), error_chain(&bad)),
                "the function would acknowledge this event and change nothing",
            ),
            PreviewError::Aws(error) => Failure::aws(&error, &format!("table {table}")),
        })?;
    print(output, &printed(&previewed, SystemClock.now()));
    Ok(Exit::Ok)
}

fn call_json(call: &WouldCall) -> Value {
    json!({ "operation": call.operation, "detail": call.detail })
}

/// The decision and the calls, as text and JSON.
fn printed(previewed: &Preview, now: drain_core::time::Timestamp) -> Printed {
    let report = &previewed.report;
    let mut lines = vec![format!(
        "{} would decide: {}{}",
        function_name(previewed.function),
        report.outcomes.join(", "),
        if report.dry_run {
            " (an archive replay: the function only logs what it would do)"
        } else {
            ""
        }
    )];
    if let Some(reason) = &report.refused {
        lines.push(format!("refused: {reason}"));
    }
    if let Some(record) = &previewed.record {
        lines.push(format!(
            "the drain record it would leave: {} {}{}",
            record.status.as_str(),
            record.phase.as_str(),
            record
                .reason
                .as_deref()
                .map_or_else(String::new, |reason| format!(" ({reason})"))
        ));
    }
    if previewed.calls.is_empty() {
        lines.push("calls it would make: none".to_owned());
    } else {
        lines.push("calls it would make, in order:".to_owned());
        lines.extend(
            previewed
                .calls
                .iter()
                .enumerate()
                .map(|(n, call)| format!("  {}. {}  {}", n + 1, call.operation, call.detail)),
        );
    }
    lines.push("nothing was changed: explain --event only reads".to_owned());
    Printed {
        text: lines.join("\n"),
        json: json!({
            "function": function_name(previewed.function),
            "outcomes": report.outcomes,
            "dry_run": report.dry_run,
            "refused": report.refused,
            "calls": previewed.calls.iter().map(call_json).collect::<Vec<_>>(),
            "record": previewed.record.as_ref().map(|record| crate::status::json(record, now)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn names() -> Names {
        Names {
            table: Some("stack-table".into()),
            parameters: vec![
                ("ClusterNames".into(), "prod,batch".into()),
                ("HookName".into(), "ecs-drain-terminate".into()),
                ("DrainDeadlineSeconds".into(), "1800".into()),
                ("DeadlinePolicy".into(), "abandon".into()),
                ("ReplayMode".into(), "live".into()),
            ],
            schedule_group: Some("ecs-drain-checks".into()),
            ..Names::default()
        }
    }

    #[test]
    fn the_settings_are_the_stacks_unless_the_environment_or_a_flag_says_otherwise() {
        let names = names();
        let settings = Settings {
            table: None,
            schedule_group: None,
            names: &names,
        };
        let from_stack = config(&settings, |_| None).expect("complete");
        assert_eq!(from_stack.table_name, "stack-table");
        assert_eq!(from_stack.clusters, vec!["prod", "batch"]);
        assert_eq!(from_stack.hook_name.as_deref(), Some("ecs-drain-terminate"));
        assert_eq!(from_stack.policy.deadline_seconds, 1800);
        assert_eq!(
            from_stack
                .schedule
                .map(|schedule| schedule.group)
                .as_deref(),
            Some("ecs-drain-checks")
        );
        let env: HashMap<&str, &str> = [(ENV_DEADLINE_SECONDS, "600"), (ENV_CLUSTERS, "other")]
            .into_iter()
            .collect();
        let settings = Settings {
            table: Some("flag-table"),
            schedule_group: None,
            names: &names,
        };
        let overridden = config(&settings, |name| {
            env.get(name).map(|value| (*value).to_owned())
        })
        .expect("complete");
        assert_eq!(overridden.table_name, "flag-table");
        assert_eq!(overridden.clusters, vec!["other"]);
        assert_eq!(overridden.policy.deadline_seconds, 600);
    }

    #[test]
    fn without_a_table_the_settings_are_a_usage_error() {
        let names = Names::default();
        let settings = Settings {
            table: None,
            schedule_group: None,
            names: &names,
        };
        let failure = config(&settings, |_| None).expect_err("no table");
        assert_eq!(failure.exit, Exit::Usage);
        assert!(
            failure.message.contains("ECS_DRAIN_TABLE"),
            "{}",
            failure.message
        );
        let names = Names::default();
        let settings = Settings {
            table: Some("t"),
            schedule_group: None,
            names: &names,
        };
        assert_eq!(
            config(&settings, |_| None)
                .ok()
                .map(|config| config.schedule),
            Some(None),
            "no group known: no checks"
        );
    }

    #[test]
    fn the_decision_the_record_and_each_call_are_printed_in_order() {
        let previewed = Preview {
            function: Function::OnTaskStopped,
            report: drain_core::handler::Report {
                outcomes: vec!["wait".into()],
                dry_run: false,
                refused: None,
            },
            calls: vec![WouldCall {
                operation: "dynamodb:PutItem",
                detail: "drain record over revision 2: DRAINING GRACEFUL (revision 3)".into(),
            }],
            record: Some(crate::status::tests::waiting()),
        };
        let printed = printed(&previewed, drain_core::time::Timestamp(1_000_160));
        assert_eq!(
            printed.text.lines().collect::<Vec<_>>(),
            vec![
                "on-task-stopped would decide: wait",
                "the drain record it would leave: DRAINING GRACEFUL (waiting for replica and \
                 standalone tasks to leave the instance)",
                "calls it would make, in order:",
                "  1. dynamodb:PutItem  drain record over revision 2: DRAINING GRACEFUL (revision 3)",
                "nothing was changed: explain --event only reads",
            ]
        );
        assert_eq!(printed.json["calls"][0]["operation"], "dynamodb:PutItem");
        assert_eq!(printed.json["record"]["status"], "DRAINING");
        assert_eq!(printed.json["outcomes"], json!(["wait"]));
    }

    #[test]
    fn a_missing_or_malformed_file_is_a_usage_error_naming_it() {
        let missing = read_event(Path::new("/nonexistent/event.json")).expect_err("missing");
        assert_eq!(missing.exit, Exit::Usage);
        assert!(
            missing
                .message
                .starts_with("cannot read /nonexistent/event.json")
        );
        let dir = std::env::temp_dir().join(format!("drainctl-event-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"detail-type\": ").expect("written");
        let failure = read_event(&bad).expect_err("not JSON");
        assert_eq!(failure.exit, Exit::Usage);
        assert!(
            failure.message.contains("is not JSON"),
            "{}",
            failure.message
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
