//! `drainctl replay`: re-deliver a window of the stack's archived events to its own rules
//! (EventBridge StartReplay with the rules as FilterArns), after an incident or an outage.
//! Without `--live` it only says what it would replay; with it, it starts the replay and
//! follows it to its end.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use aws_smithy_types::DateTime;
use drain_aws::error::classify;
use drain_core::time::Timestamp;
use serde_json::json;

use crate::aws::Names;
use crate::failure::{Exit, Failure};
use crate::{Output, Printed, print};

/// How often a live replay's state is read.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// What to replay.
pub(crate) struct Window {
    /// First event time.
    pub(crate) from: Timestamp,
    /// Last event time.
    pub(crate) to: Timestamp,
    /// Start it (else: a dry run).
    pub(crate) live: bool,
}

/// Reads an RFC 3339 time for `--from` / `--to`.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text)
        .ok_or_else(|| format!("{text:?} is not an RFC 3339 time like 2026-12-02T01:00:00Z"))
}

/// Replays `window` of the stack's archive (see the module docs).
pub(crate) async fn replay(
    output: Output,
    sdk: &SdkConfig,
    names: &Names,
    window: Window,
) -> Result<Exit, Failure> {
    let Some(archive_arn) = names.archive.as_deref() else {
        return Err(Failure::new(
            Exit::Usage,
            "replay needs the stack's archive and rules",
            "pass --stack-name (the ecs-drain stack)",
        ));
    };
    if window.from >= window.to {
        return Err(Failure::new(
            Exit::Usage,
            "--from must be before --to",
            "give the incident's window in RFC 3339, e.g. --from 2026-12-02T01:00:00Z --to 2026-12-02T02:00:00Z",
        ));
    }
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let archive_name = archive_arn.rsplit('/').next().unwrap_or(archive_arn);
    let archive = events
        .describe_archive()
        .archive_name(archive_name)
        .send()
        .await
        .map_err(|error| {
            Failure::aws(
                &classify("events:DescribeArchive", error),
                &format!("archive {archive_name}"),
            )
        })?;
    let bus = archive.event_source_arn().unwrap_or_default().to_owned();
    let mode = names.parameter("ReplayMode").unwrap_or("unknown");
    let plan = json!({
        "archive": archive_arn,
        "archived_events": archive.event_count(),
        "destination": bus,
        "filter_arns": names.rules,
        "from": window.from.to_rfc3339(),
        "to": window.to.to_rfc3339(),
        "functions_replay_mode": mode,
    });
    let summary = format!(
        "replay of archive {archive_name} ({} event(s) archived in all) from {} to {} onto {bus}, rules {}; the functions' ReplayMode is {mode}",
        archive.event_count(),
        window.from.to_rfc3339(),
        window.to.to_rfc3339(),
        names.rules.join(", ")
    );
    if !window.live {
        print(
            output,
            &Printed {
                text: format!("dry run (pass --live to start it): {summary}"),
                json: json!({ "live": false, "plan": plan }),
            },
        );
        return Ok(Exit::Ok);
    }
    let name = format!(
        "drainctl-{}-{}",
        window.from.epoch_seconds(),
        std::process::id()
    );
    let destination = ReplayDestination::builder()
        .arn(&bus)
        .set_filter_arns(Some(names.rules.clone()))
        .build()
        .map_err(|error| {
            Failure::new(
                Exit::Aws,
                format!("replay destination: {error}"),
                "run with --debug",
            )
        })?;
    events
        .start_replay()
        .replay_name(&name)
        .event_source_arn(archive_arn)
        .event_start_time(DateTime::from_secs(window.from.epoch_seconds()))
        .event_end_time(DateTime::from_secs(window.to.epoch_seconds()))
        .destination(destination)
        .description("drainctl replay")
        .send()
        .await
        .map_err(|error| {
            Failure::aws(
                &classify("events:StartReplay", error),
                &format!("archive {archive_name}"),
            )
        })?;
    if output == Output::Table {
        println!("started replay {name}: {summary}");
    }
    let (state, reason) = loop {
        let described = events
            .describe_replay()
            .replay_name(&name)
            .send()
            .await
            .map_err(|error| {
                Failure::aws(
                    &classify("events:DescribeReplay", error),
                    &format!("replay {name}"),
                )
            })?;
        let state = described.state().cloned();
        match state {
            Some(ReplayState::Completed | ReplayState::Cancelled | ReplayState::Failed) => {
                break (state, described.state_reason().map(str::to_owned));
            }
            _ => tokio::time::sleep(FOLLOW_INTERVAL).await,
        }
    };
    let state_name = state.as_ref().map_or("UNKNOWN", |state| state.as_str());
    print(
        output,
        &Printed {
            text: format!(
                "replay {name} {state_name}{}",
                reason
                    .as_deref()
                    .map_or_else(String::new, |reason| format!(": {reason}"))
            ),
            json: json!({ "live": true, "replay": name, "state": state_name, "reason": reason, "plan": plan }),
        },
    );
    Ok(if state == Some(ReplayState::Completed) {
        Exit::Ok
    } else {
        Exit::Aws
    })
}
