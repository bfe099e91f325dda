//! The two Lambda handlers, minus the runtime: raw JSON payload in, a small JSON report out.
//! Transient failures come back as `Err` (Lambda's async retry runs the idempotent handler
//! again); so do deployment errors, logged once with what to fix, so that the function's
//! `Errors` metric and the failure queue show them: acknowledging them would let the hook's
//! default result terminate instances undrained without anyone noticing. Bad input and other
//! permanent failures are logged with their reason and acknowledged.

use serde::Serialize;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::decision::verify::FunctionIdentity;
use crate::drainer::{Drainer, Mode, Outcome};
use crate::error::{DeploymentProblem, DrainError, bounded, error_chain};
use crate::event::{
    EventError, LifecycleInput, Payload, TaskInput, parse_lifecycle_payload, parse_task_payload,
};
use crate::metrics::Fact;
use crate::ports::Ports;

/// What one invocation did, returned as the function's response (visible in `invoke` output
/// and in Lambda destinations).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
        Outcome::Joined { .. } => "joined".into(),
        Outcome::EndedWithoutAction => "ended_without_action".into(),
        Outcome::Decided(decision) => decision.name().into(),
        Outcome::ActionGone => "action_gone".into(),
        Outcome::Refused { refusal } => format!("refused_{}", refusal.name()),
        Outcome::Launch(launch) => launch.name().into(),
    }
}

/// The longest error text a log line or an error response carries: AWS messages can be long,
/// and one line must stay one readable line.
pub const MAX_ERROR_TEXT: usize = 1024;

/// Which function is running: its execution role is what a missing permission is fixed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// on-lifecycle (terminate notices and scheduled checks).
    OnLifecycle,
    /// on-task-stopped (ECS Task State Change events).
    OnTaskStopped,
}

impl Function {
    /// The logical id of the function's execution role in infra/template.yaml.
    pub fn role(self) -> &'static str {
        match self {
            Function::OnLifecycle => "OnLifecycleRole",
            Function::OnTaskStopped => "OnTaskStoppedRole",
        }
    }
}

/// What an operator must change for `operation` to stop failing with `problem`. Pure: the
/// settings name the resources, `function` names the role.
pub fn deployment_fix(
    operation: &str,
    problem: DeploymentProblem,
    function: Function,
    config: &Config,
) -> String {
    let role = function.role();
    let service = operation.split(':').next().unwrap_or_default();
    let clusters = bounded(&config.clusters.join(","), 200);
    let group = config
        .schedule
        .as_ref()
        .map_or("(unset)", |schedule| schedule.group.as_str());
    let scheduler_role = config
        .schedule
        .as_ref()
        .map_or("(unset)", |schedule| schedule.role_arn.as_str());
    let table = bounded(&config.table_name, 255);
    match (problem, service) {
        (DeploymentProblem::AccessDenied, _) => {
            format!(
                "grant {operation} to the function's execution role (infra/template.yaml {role})"
            )
        }
        (DeploymentProblem::Credentials, _) => format!(
            "the function's credentials were not loaded or were refused: check that its execution \
             role (infra/template.yaml {role}) exists and trusts lambda.amazonaws.com, and that \
             the function's region and endpoint settings are the account's"
        ),
        (DeploymentProblem::MissingResource, "dynamodb") => {
            format!(
                "create the DynamoDB table {table} or set ECS_DRAIN_TABLE to the stack's table \
                 (infra/template.yaml StateTable)"
            )
        }
        (DeploymentProblem::MissingResource, "ecs") => {
            format!(
                "every cluster in ECS_DRAIN_CLUSTERS ({clusters}) must exist in this account and \
                 region: fix the stack parameter ClusterNames"
            )
        }
        (DeploymentProblem::MissingResource, "scheduler") => format!(
            "create the schedule group {group} or set ECS_DRAIN_SCHEDULE_GROUP to the stack's \
             group (infra/template.yaml DrainCheckScheduleGroup)"
        ),
        (DeploymentProblem::InvalidSetting, "scheduler") => format!(
            "check ECS_DRAIN_SCHEDULE_ROLE_ARN ({scheduler_role}: it must exist and trust \
             scheduler.amazonaws.com, infra/template.yaml SchedulerRole), ECS_DRAIN_SCHEDULE_GROUP \
             ({group}) and ECS_DRAIN_CHECK_TARGET_ARN"
        ),
        (DeploymentProblem::InvalidSetting, "dynamodb") => {
            format!(
                "check ECS_DRAIN_TABLE ({table}): the table must have the partition key \
                 container_instance_arn (infra/template.yaml StateTable)"
            )
        }
        (DeploymentProblem::MissingResource | DeploymentProblem::InvalidSetting, _) => {
            format!(
                "check the settings that {operation} is called with (README, Configuration) \
                 against the resources of the account"
            )
        }
    }
}

/// The `error_type` and `error_message` of a handler's error response: the class, the failed
/// operation with its cause, and for a deployment error what to fix. Bounded.
pub fn error_response(
    error: &DrainError,
    function: Function,
    config: &Config,
) -> (&'static str, String) {
    let chain = error_chain(error);
    let message = match error.deployment_problem() {
        Some(problem) => format!(
            "{chain} (fix: {})",
            deployment_fix(error.operation(), problem, function, config)
        ),
        None => chain,
    };
    (error.error_type(), bounded(&message, MAX_ERROR_TEXT))
}

fn refused(reason: String) -> Report {
    Report {
        outcomes: vec!["refused".into()],
        dry_run: false,
        refused: Some(reason),
    }
}

/// The parsed payload, or the report of a refused one: logged with its reason (`what` names
/// the payload) and counted, with nothing changed.
fn parsed_or_refused<T, D: Ports>(
    drainer: &Drainer<D>,
    parsed: Result<T, EventError>,
    what: &str,
) -> Result<T, Report> {
    parsed.map_err(|bad| {
        warn!(reason = %error_chain(&bad), "{what} payload refused; nothing changed");
        drainer.note_fact(Fact::RefusedEvent);
        refused(error_chain(&bad))
    })
}

/// The mode for an input that an archive replay named `replay_name` may have re-sent; a dry
/// run marks the whole report.
fn mode_of<D: Ports>(drainer: &Drainer<D>, replay_name: Option<&str>, report: &mut Report) -> Mode {
    let mode = drainer.mode_for(replay_name);
    report.dry_run |= mode == Mode::DryRun;
    mode
}

/// Logs and counts a failed or finished input; `Err` when the invocation must fail.
fn settle(
    result: Result<Outcome, DrainError>,
    report: &mut Report,
    function: Function,
    config: &Config,
    note: &dyn Fn(Fact),
) -> Result<(), DrainError> {
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
            warn!(
                error = %bounded(&error_chain(&failure), MAX_ERROR_TEXT),
                "transient failure; returning an error so Lambda retries"
            );
            Err(failure)
        }
        Err(failure) => match failure.deployment_problem() {
            Some(problem) => {
                note(Fact::PermanentFailure);
                error!(
                    operation = failure.operation(),
                    problem = problem.as_str(),
                    fix = %bounded(
                        &deployment_fix(failure.operation(), problem, function, config),
                        MAX_ERROR_TEXT / 2
                    ),
                    error = %bounded(&error_chain(&failure), MAX_ERROR_TEXT),
                    "the deployment is wrong; failing the invocation so that Lambda retries, the \
                     Errors alarm fires and the event reaches the failure queue"
                );
                Err(failure)
            }
            None => {
                note(Fact::PermanentFailure);
                let reason = bounded(&error_chain(&failure), MAX_ERROR_TEXT);
                error!(
                    operation = failure.operation(),
                    error = %reason,
                    "permanent failure; acknowledged without retry"
                );
                report.outcomes.push("failed".into());
                report.refused = Some(reason);
                Ok(())
            }
        },
    }
}

/// on-lifecycle: terminate lifecycle actions (EventBridge or SNS) and scheduled checks, at the
/// function `own` (a notice for another account or region is refused). What it counted is left
/// in [`Drainer::take_facts`], whether it succeeds or fails.
pub async fn handle_lifecycle<D, P>(
    drainer: &Drainer<D>,
    payload: &P,
    own: &FunctionIdentity,
) -> Result<Report, DrainError>
where
    P: Payload + ?Sized,
    D: Ports,
{
    let inputs = match parsed_or_refused(drainer, parse_lifecycle_payload(payload), "lifecycle") {
        Ok(inputs) => inputs,
        Err(refused) => return Ok(refused),
    };
    let mut report = Report::default();
    for input in inputs {
        let result = match input {
            LifecycleInput::Terminate(notice) => {
                let mode = mode_of(drainer, notice.replay_name.as_deref(), &mut report);
                drainer.on_notice(&notice, mode, own).await
            }
            LifecycleInput::Check(check) => {
                drainer
                    .on_scheduled_check(&check.container_instance_arn, own)
                    .await
            }
            LifecycleInput::SpotWarning(warning) => {
                mode_of(drainer, warning.replay_name.as_deref(), &mut report);
                drainer.on_spot_warning(&warning, own).await
            }
            LifecycleInput::Rebalance(recommendation) => {
                mode_of(drainer, recommendation.replay_name.as_deref(), &mut report);
                drainer.on_rebalance(&recommendation, own).await
            }
            LifecycleInput::Launch(notice) => {
                let mode = mode_of(drainer, notice.replay_name.as_deref(), &mut report);
                Box::pin(drainer.on_launch(&notice, mode, own)).await
            }
            LifecycleInput::InstanceJoined(change) => {
                let mode = mode_of(drainer, change.replay_name.as_deref(), &mut report);
                Box::pin(drainer.on_instance_joined(&change, mode)).await
            }
            LifecycleInput::LaunchCheck(instance) => {
                Box::pin(drainer.on_launch_check(&instance, Mode::Live)).await
            }
            LifecycleInput::Ignored { reason } => Ok(Outcome::Ignored { reason }),
        };
        settle(
            result,
            &mut report,
            Function::OnLifecycle,
            drainer.config(),
            &|fact| drainer.note_fact(fact),
        )?;
    }
    Ok(report)
}

/// on-task-stopped: ECS Task State Change events, and ECS Container Instance State Change
/// events of DRAINING instances. What it counted is left in
/// [`Drainer::take_facts`], whether it succeeds or fails.
pub async fn handle_task_stopped<D, P>(
    drainer: &Drainer<D>,
    payload: &P,
) -> Result<Report, DrainError>
where
    P: Payload + ?Sized,
    D: Ports,
{
    let input = match parsed_or_refused(drainer, parse_task_payload(payload), "task") {
        Ok(input) => input,
        Err(refused) => return Ok(refused),
    };
    let mut report = Report::default();
    let result = match input {
        TaskInput::Stopped(change) => {
            let mode = mode_of(drainer, change.replay_name.as_deref(), &mut report);
            drainer.on_task_stopped(&change, mode).await
        }
        TaskInput::InstanceChanged(change) => {
            let mode = mode_of(drainer, change.replay_name.as_deref(), &mut report);
            drainer.on_instance_changed(&change, mode).await
        }
        TaskInput::Ignored { reason } => Ok(Outcome::Ignored { reason }),
    };
    settle(
        result,
        &mut report,
        Function::OnTaskStopped,
        drainer.config(),
        &|fact| drainer.note_fact(fact),
    )?;
    Ok(report)
}
