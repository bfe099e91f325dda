//! Turning SDK errors into drain-core's transient / permanent errors.

use std::error::Error as StdError;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use drain_core::DrainError;

/// Error codes AWS services use for throttling and server-side trouble.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceededException",
    "TransactionInProgressException",
    "ServerException",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ResourceContention",
];

/// Whether an SDK error is worth another try by Lambda's async retry: throttling, 5xx,
/// timeouts, connection failures and unreadable responses.
pub fn is_transient<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status >= 500 || status == 429 || service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => false,
    }
}

/// Whether AWS refused the request for its rate: a clean refusal, nothing was done.
pub fn is_throttling<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 429
                || service
                    .err()
                    .code()
                    .is_some_and(|code| code.contains("Throttl") || code.contains("LimitExceeded") || code == "TooManyRequestsException")
        }
        _ => false,
    }
}

/// The error code AWS answered with, if any.
pub fn code_of<E>(error: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    error.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// The message AWS answered with, if any.
pub fn message_of<E>(error: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    error.as_service_error().and_then(ProvideErrorMetadata::message)
}

/// Wraps an SDK error of `operation`, keeping it as the source.
pub fn classify<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> DrainError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let transient = is_transient(&error);
    let source = Box::new(Described(error));
    if transient { DrainError::Transient { operation, source } } else { DrainError::Permanent { operation, source } }
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
