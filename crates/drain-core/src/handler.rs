//! The two Lambda handlers, minus the runtime: raw JSON payload in, a small JSON report out.
//! Transient failures come back as `Err` (Lambda's async retry runs the idempotent handler
//! again); bad input and permanent failures are logged with their reason and acknowledged.

use serde::Serialize;
use tracing::{error, info, warn};

use crate::decision::verify::FunctionIdentity;
use crate::drainer::{Drainer, Outcome};
use crate::error::{DrainError, error_chain};
use crate::event::{LifecycleInput, Payload, TaskInput, parse_lifecycle_payload, parse_task_payload};
use crate::ports::{CheckScheduler, Cluster, DrainStore, LifecycleHooks};
use crate::time::Clock;

/// What one invocation did, returned as the function's response (visible in `invoke` output
/// and in Lambda destinations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One line per input handled: the outcome's name.
    pub outcomes: Vec<String>,
    /// Whether the invocation ran as a dry run (archive replay).
    pub dry_run: bool,
    /// Why an input was refused or failed permanently, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// A short name for an outcome.
pub fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ignored { .. } => "ignored".into(),
        Outcome::NotDraining => "not_draining".into(),
        Outcome::CompletedUntracked { .. } => "completed_untracked".into(),
        Outcome::AlreadyFinished => "already_finished".into(),
        Outcome::Stale => "stale".into(),
        Outcome::LostRace => "lost_race".into(),
        Outcome::Decided(decision) => decision.name().into(),
        Outcome::ActionGone => "action_gone".into(),
        Outcome::Refused { refusal } => format!("refused_{}", refusal.name()),
    }
}

fn refused(reason: String) -> Report {
    Report { outcomes: vec!["refused".into()], dry_run: false, refused: Some(reason) }
}

fn settle(result: Result<Outcome, DrainError>, report: &mut Report) -> Result<(), DrainError> {
    match result {
        Ok(outcome) => {
            if let Outcome::Ignored { reason } = &outcome {
                info!(reason = %reason, "input ignored");
            }
            if let Outcome::Refused { refusal } = &outcome {
                report.refused = Some(refusal.describe());
            }
            report.outcomes.push(outcome_name(&outcome));
            Ok(())
        }
        Err(failure) if failure.is_retryable() => {
            warn!(error = %error_chain(&failure), "transient failure; returning an error so Lambda retries");
            Err(failure)
        }
        Err(failure) => {
            error!(error = %error_chain(&failure), "permanent failure; acknowledged without retry");
            report.outcomes.push("failed".into());
            report.refused = Some(error_chain(&failure));
            Ok(())
        }
    }
}

/// on-lifecycle: terminate lifecycle actions (EventBridge or SNS) and scheduled checks, at the
/// function `own` (a notice for another account or region is refused).
pub async fn handle_lifecycle<C, H, S, Q, K, P>(drainer: &Drainer<C, H, S, Q, K>, payload: &P, own: &FunctionIdentity) -> Result<Report, DrainError>
where
    P: Payload + ?Sized,
    C: Cluster,
    H: LifecycleHooks,
    S: DrainStore,
    Q: CheckScheduler,
    K: Clock,
{
    let inputs = match parse_lifecycle_payload(payload) {
        Ok(inputs) => inputs,
        Err(bad) => {
            warn!(reason = %error_chain(&bad), "lifecycle payload refused; nothing changed");
            return Ok(refused(error_chain(&bad)));
        }
    };
    let mut report = Report { outcomes: Vec::new(), dry_run: false, refused: None };
    for input in inputs {
        let result = match input {
            LifecycleInput::Terminate(notice) => {
                let mode = drainer.mode_for(notice.replay_name.as_deref());
                report.dry_run |= mode == crate::drainer::Mode::DryRun;
                drainer.on_notice(&notice, mode, own).await
            }
            LifecycleInput::Check(check) => drainer.on_scheduled_check(&check.container_instance_arn, own).await,
            LifecycleInput::Ignored { reason } => Ok(Outcome::Ignored { reason }),
        };
        settle(result, &mut report)?;
    }
    Ok(report)
}

/// on-task-stopped: ECS Task State Change events.
pub async fn handle_task_stopped<C, H, S, Q, K, P>(drainer: &Drainer<C, H, S, Q, K>, payload: &P) -> Result<Report, DrainError>
where
    P: Payload + ?Sized,
    C: Cluster,
    H: LifecycleHooks,
    S: DrainStore,
    Q: CheckScheduler,
    K: Clock,
{
    let input = match parse_task_payload(payload) {
        Ok(input) => input,
        Err(bad) => {
            warn!(reason = %error_chain(&bad), "task payload refused; nothing changed");
            return Ok(refused(error_chain(&bad)));
        }
    };
    let mut report = Report { outcomes: Vec::new(), dry_run: false, refused: None };
    let result = match input {
        TaskInput::Stopped(change) => {
            let mode = drainer.mode_for(change.replay_name.as_deref());
            report.dry_run = mode == crate::drainer::Mode::DryRun;
            drainer.on_task_stopped(&change, mode).await
        }
        TaskInput::Ignored { reason } => Ok(Outcome::Ignored { reason }),
    };
    settle(result, &mut report)?;
    Ok(report)
}
