//! Turning SDK errors into drain-core's errors: transient, permanent, or a deployment error.
//!
//! This module only reports what AWS said ("AccessDenied", "the table was not found", "the
//! credentials did not load"); drain-core decides what that means for the invocation. Not-found
//! answers that are domain facts (a schedule already deleted, no active lifecycle action, a
//! container instance gone) are handled by the adapters before they reach [`classify`].

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::retry::{ErrorKind, ProvideErrorKind};
use drain_core::DrainError;
use drain_core::error::DeploymentProblem;

/// Server-trouble codes, retried whatever the HTTP status says. The SDK's own classifier
/// ([`THROTTLING_ERRORS`], [`TRANSIENT_ERRORS`], modeled retryable errors, and 5xx statuses)
/// covers the rest; these are the server errors an answer can carry with a status that lost
/// its 5xx (e.g. behind a proxy or in an emulator), and Auto Scaling's `ResourceContention`.
const SERVER_TROUBLE_CODES: &[&str] = &[
    "ServerException",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ResourceContention",
];

/// A throttling code the SDK's list lacks, seen from older services: kept so that no answer
/// that was retried before stops being retried.
const EXTRA_THROTTLING_CODES: &[&str] = &["RequestLimitExceededException"];

/// Codes meaning the caller lacks a permission. AWS names them per protocol and service.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
];

/// Codes meaning AWS refused the caller's credentials or signature.
const CREDENTIALS_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "IncompleteSignature",
    "IncompleteSignatureException",
];

/// What is wrong with the deployment, if AWS's answer to `operation` says so: a missing
/// permission, refused or missing credentials, a missing table or schedule group, or a setting
/// the scheduler rejects. `None` for everything else (including throttling and 5xx).
pub fn deployment_problem<E>(
    operation: &str,
    error: &SdkError<E, HttpResponse>,
) -> Option<DeploymentProblem>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if credentials_not_loaded(error) {
        return Some(DeploymentProblem::Credentials);
    }
    let SdkError::ServiceError(service) = error else {
        return None;
    };
    let status = service.raw().status().as_u16();
    let code = service.err().code();
    let message = service.err().message().unwrap_or_default();
    let service_name = operation.split(':').next().unwrap_or_default();
    match code {
        Some(code) if ACCESS_DENIED_CODES.contains(&code) => Some(DeploymentProblem::AccessDenied),
        Some(code) if CREDENTIALS_CODES.contains(&code) => Some(DeploymentProblem::Credentials),
        // DynamoDB answers ResourceNotFoundException only for a missing table (or index).
        Some("ResourceNotFoundException") if service_name == "dynamodb" => {
            Some(DeploymentProblem::MissingResource)
        }
        // On Create the missing resource can only be the group; on Update it is the group unless
        // the schedule itself just fired and deleted itself (see `schedule_vanished`).
        // DeleteSchedule's "already gone" never gets here.
        Some("ResourceNotFoundException")
            if operation == "scheduler:CreateSchedule"
                || (operation == "scheduler:UpdateSchedule"
                    && !schedule_vanished(operation, error)) =>
        {
            Some(DeploymentProblem::MissingResource)
        }
        // The scheduler validates the role, target and group against the account at Create/Update.
        Some("ValidationException")
            if matches!(
                operation,
                "scheduler:CreateSchedule" | "scheduler:UpdateSchedule"
            ) =>
        {
            Some(DeploymentProblem::InvalidSetting)
        }
        // A table whose key is not ours, or a table name AWS refuses: both come from the settings.
        Some("ValidationException")
            if service_name == "dynamodb"
                && (message.contains("key element")
                    || message.contains("schema")
                    || message.contains("tableName")) =>
        {
            Some(DeploymentProblem::InvalidSetting)
        }
        Some(_) => None,
        // A 403 whose body the SDK could not read as its protocol's error (moto answers every
        // protocol's denial in XML) is still a denial, not an unreadable answer to retry.
        None if status == 403 => Some(DeploymentProblem::AccessDenied),
        None => None,
    }
}

/// UpdateSchedule right after CreateSchedule answered ConflictException can find the schedule
/// gone: it fired in between and deleted itself. That is a lost race, worth a retry (which
/// creates it again), not a deployment error.
fn schedule_vanished<E>(operation: &str, error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    operation == "scheduler:UpdateSchedule"
        && code_of(error) == Some("ResourceNotFoundException")
        && !message_of(error).is_some_and(|message| message.to_ascii_lowercase().contains("group"))
}

/// Whether the request never left because the SDK could not load credentials (the provider
/// chain found none, or the one it found failed).
fn credentials_not_loaded<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: StdError + 'static,
{
    let mut cause: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(inner) = cause {
        if let Some(credentials) = inner.downcast_ref::<CredentialsError>() {
            // A provider that timed out may answer next time: that one stays transient.
            return !matches!(credentials, CredentialsError::ProviderTimedOut(_));
        }
        cause = inner.source();
    }
    false
}

/// Whether an SDK error is worth another try by Lambda's async retry, by the SDK's own
/// classification: timeouts, connection failures and unreadable responses; errors modeled as
/// retryable; the SDK's throttling and transient codes; 5xx and 429 statuses.
pub fn is_transient<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = ProvideErrorMetadata::code(service.err());
            status >= 500
                || status == 429
                || service.err().retryable_error_kind().is_some()
                || code.is_some_and(|code| {
                    TRANSIENT_ERRORS.contains(&code) || SERVER_TROUBLE_CODES.contains(&code)
                })
                || is_throttling(error)
        }
        _ => false,
    }
}

/// Whether AWS refused the request for its rate: a clean refusal, nothing was done. The SDK's
/// throttling codes, an error modeled as throttling, or status 429.
pub fn is_throttling<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    match error {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 429
                || service.err().retryable_error_kind() == Some(ErrorKind::ThrottlingError)
                || ProvideErrorMetadata::code(service.err()).is_some_and(|code| {
                    THROTTLING_ERRORS.contains(&code) || EXTRA_THROTTLING_CODES.contains(&code)
                })
        }
        _ => false,
    }
}

/// The error code AWS answered with, if any.
pub fn code_of<E>(error: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
}

/// The message AWS answered with, if any.
pub fn message_of<E>(error: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::message)
}

/// Wraps an SDK error of `operation`, keeping it as the source: a deployment error when AWS's
/// answer says the deployment is wrong, else transient or permanent.
pub fn classify<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> DrainError
where
    E: ProvideErrorMetadata + ProvideErrorKind + StdError + Send + Sync + 'static,
{
    // Before the transient check: credentials that fail to load surface as a dispatch failure.
    let problem = deployment_problem(operation, &error);
    let transient = is_transient(&error) || schedule_vanished(operation, &error);
    let source = Box::new(Described(error));
    match problem {
        Some(problem) => DrainError::Deployment {
            operation,
            problem,
            source,
        },
        None if transient => DrainError::Transient { operation, source },
        None => DrainError::Permanent { operation, source },
    }
}

/// A deployment error of `operation` the adapter recognised itself, with `context` naming what
/// is wrong (e.g. which configured cluster is missing) and the SDK error kept as the cause.
pub fn deployment_error<E>(
    operation: &'static str,
    problem: DeploymentProblem,
    context: impl Into<String>,
    error: SdkError<E, HttpResponse>,
) -> DrainError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    DrainError::Deployment {
        operation,
        problem,
        source: Box::new(InContext {
            context: context.into(),
            source: Described(error),
        }),
    }
}

/// What the adapter knew about a failure, over the SDK's error.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
struct InContext<E: ProvideErrorMetadata + StdError + 'static> {
    context: String,
    #[source]
    source: Described<E>,
}

/// An SDK error whose Display includes the service's code and message (the SDK's own Display
/// says only "service error").
#[derive(Debug)]
struct Described<E>(SdkError<E, HttpResponse>);

impl<E: ProvideErrorMetadata + StdError + 'static> std::fmt::Display for Described<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (code_of(&self.0), message_of(&self.0)) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}"),
            (Some(code), None) => f.write_str(code),
            _ => write!(f, "{}", drain_core::error::error_chain(&self.0)),
        }
    }
}

impl<E: ProvideErrorMetadata + StdError + 'static> StdError for Described<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.0 {
            SdkError::ServiceError(_) => None,
            other => other.source(),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::provider::{ProvideCredentials, future};
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_ecs::operation::list_container_instances::ListContainerInstancesError;
    use aws_sdk_scheduler::operation::create_schedule::CreateScheduleError;
    use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// The raw answer the SDK keeps with a service error: status and body as AWS sent them.
    fn raw(status: u16, body: &'static str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::from(body),
        )
    }

    fn meta(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    fn dynamodb(status: u16, code: &str, message: &str) -> SdkError<GetItemError, HttpResponse> {
        SdkError::service_error(
            GetItemError::generic(meta(code, message)),
            raw(status, "{}"),
        )
    }

    fn ecs(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<ListContainerInstancesError, HttpResponse> {
        SdkError::service_error(
            ListContainerInstancesError::generic(meta(code, message)),
            raw(status, "{}"),
        )
    }

    fn problem_of(error: &DrainError) -> Option<&'static str> {
        error.deployment_problem().map(DeploymentProblem::as_str)
    }

    #[test]
    fn every_access_denied_code_is_a_deployment_error_naming_the_operation() {
        for code in ACCESS_DENIED_CODES {
            let error = classify(
                "ecs:DescribeContainerInstances",
                ecs(
                    400,
                    code,
                    "User: arn:aws:sts::123456789012:assumed-role/on-lifecycle/x is not authorized \
                     to perform: ecs:DescribeContainerInstances",
                ),
            );
            assert_eq!(problem_of(&error), Some("access_denied"), "{code}");
            assert!(error.fails_invocation() && !error.is_retryable());
            assert_eq!(error.operation(), "ecs:DescribeContainerInstances");
            assert!(
                drain_core::error::error_chain(&error).contains(code),
                "{code}: the cause is kept"
            );
        }
    }

    #[test]
    fn a_403_whose_body_the_sdk_could_not_read_is_access_denied_not_a_retry() {
        // moto answers a denial in XML for every protocol; a JSON protocol then has no code.
        let unreadable = SdkError::service_error(
            GetItemError::generic(ErrorMetadata::builder().build()),
            raw(
                403,
                "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>",
            ),
        );
        assert_eq!(
            problem_of(&classify("dynamodb:GetItem", unreadable)),
            Some("access_denied")
        );
    }

    #[test]
    fn refused_credentials_are_a_deployment_error() {
        for code in CREDENTIALS_CODES {
            let error = classify(
                "dynamodb:GetItem",
                dynamodb(
                    400,
                    code,
                    "The security token included in the request is invalid.",
                ),
            );
            assert_eq!(problem_of(&error), Some("credentials"), "{code}");
        }
    }

    #[derive(Debug)]
    struct NoCredentials;

    impl ProvideCredentials for NoCredentials {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
                "no providers in chain provided credentials",
            )))
        }
    }

    #[tokio::test]
    async fn credentials_that_do_not_load_are_a_deployment_error_not_a_transient_one() {
        // A real client whose credentials provider finds nothing, as on a function whose role
        // was never attached: the request never leaves (the endpoint is never contacted).
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(NoCredentials)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let failed = client
            .get_item()
            .table_name("drains")
            .send()
            .await
            .expect_err("no credentials");
        assert!(
            is_transient(&failed),
            "the SDK reports it as a dispatch failure: {failed:?}"
        );
        let error = classify("dynamodb:GetItem", failed);
        assert_eq!(problem_of(&error), Some("credentials"), "{error:?}");
        assert!(error.fails_invocation());
    }

    #[test]
    fn a_missing_table_is_a_missing_resource() {
        let error = classify(
            "dynamodb:PutItem",
            dynamodb(
                400,
                "ResourceNotFoundException",
                "Requested resource not found",
            ),
        );
        assert_eq!(problem_of(&error), Some("missing_resource"));
    }

    #[test]
    fn a_table_with_another_key_is_an_invalid_setting_but_other_validation_errors_stay_permanent() {
        let wrong_key = dynamodb(
            400,
            "ValidationException",
            "The provided key element does not match the schema",
        );
        assert_eq!(
            problem_of(&classify("dynamodb:GetItem", wrong_key)),
            Some("invalid_setting")
        );
        let other = classify(
            "dynamodb:PutItem",
            dynamodb(
                400,
                "ValidationException",
                "Item size has exceeded the maximum allowed size",
            ),
        );
        assert_eq!(problem_of(&other), None);
        assert!(
            !other.fails_invocation(),
            "about this one item: logged and acknowledged"
        );
    }

    #[test]
    fn the_scheduler_rejecting_the_group_or_role_is_a_deployment_error_but_a_schedule_already_gone_is_not()
     {
        let create = |code: &str, message: &str| {
            SdkError::service_error(
                CreateScheduleError::generic(meta(code, message)),
                raw(400, "{}"),
            )
        };
        let missing_group = create(
            "ResourceNotFoundException",
            "Schedule group ecs-drain-checks does not exist.",
        );
        assert_eq!(
            problem_of(&classify("scheduler:CreateSchedule", missing_group)),
            Some("missing_resource")
        );
        let bad_role = create(
            "ValidationException",
            "The execution role you provide must allow AWS EventBridge Scheduler to assume the \
             role.",
        );
        assert_eq!(
            problem_of(&classify("scheduler:UpdateSchedule", bad_role)),
            Some("invalid_setting")
        );
        let gone = SdkError::service_error(
            DeleteScheduleError::generic(meta(
                "ResourceNotFoundException",
                "Schedule drain-x does not exist.",
            )),
            raw(404, "{}"),
        );
        assert_eq!(
            problem_of(&classify("scheduler:DeleteSchedule", gone)),
            None
        );
    }

    #[test]
    fn a_schedule_that_fired_between_create_and_update_is_a_retry_but_a_missing_group_is_not() {
        let update = |message: &str| {
            SdkError::service_error(
                aws_sdk_scheduler::operation::update_schedule::UpdateScheduleError::generic(meta(
                    "ResourceNotFoundException",
                    message,
                )),
                raw(404, "{}"),
            )
        };
        let vanished = classify(
            "scheduler:UpdateSchedule",
            update("Schedule drain-3f1e2c5a does not exist."),
        );
        assert!(
            vanished.is_retryable() && problem_of(&vanished).is_none(),
            "{vanished:?}"
        );
        let no_group = classify(
            "scheduler:UpdateSchedule",
            update("Schedule group ecs-drain-checks does not exist."),
        );
        assert_eq!(problem_of(&no_group), Some("missing_resource"));
    }

    #[test]
    fn domain_answers_and_throttling_are_not_deployment_errors() {
        let cluster_gone = classify(
            "ecs:ListTasks",
            ecs(400, "ClusterNotFoundException", "Cluster not found."),
        );
        assert_eq!(
            problem_of(&cluster_gone),
            None,
            "only a configured cluster missing is the deployment's fault"
        );
        assert!(!cluster_gone.fails_invocation());
        let no_action = classify(
            "autoscaling:CompleteLifecycleAction",
            ecs(
                400,
                "ValidationError",
                "No active Lifecycle Action found with token x",
            ),
        );
        assert_eq!(problem_of(&no_action), None);
        let throttled = classify(
            "ecs:ListTasks",
            ecs(400, "ThrottlingException", "Rate exceeded"),
        );
        assert!(throttled.is_retryable() && problem_of(&throttled).is_none());
        let unavailable = classify(
            "dynamodb:GetItem",
            dynamodb(503, "ServiceUnavailable", "try again"),
        );
        assert!(unavailable.is_retryable());
    }

    #[test]
    fn retries_follow_the_sdk_classification_and_throttling_is_told_apart() {
        // (status, code, transient, throttling)
        #[rustfmt::skip]
        let rows = [
            (400, "ThrottlingException", true, true),
            (400, "LimitExceededException", true, true),
            (503, "SlowDown", true, true),
            (400, "EC2ThrottledException", true, true),
            (400, "RequestLimitExceeded", true, true),
            (400, "RequestLimitExceededException", true, true),
            (400, "ProvisionedThroughputExceededException", true, true),
            (429, "SomethingNew", true, true),
            (400, "RequestTimeout", true, false),
            (400, "ServiceUnavailable", true, false),
            (500, "ResourceContention", true, false),
            (502, "", true, false),
            (400, "ValidationError", false, false),
            (400, "ClusterNotFoundException", false, false),
        ];
        for (status, code, transient, throttling) in rows {
            let error = ecs(status, code, "answer");
            assert_eq!(
                (is_transient(&error), is_throttling(&error)),
                (transient, throttling),
                "{status} {code}"
            );
        }
    }
}
