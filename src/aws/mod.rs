//! The AWS boundary: one `SdkConfig` loaded at start-up, clients per region
//! built from it, and the error vocabulary the stages share.
//!
//! Stages receive an [`Aws`] and never build clients themselves, so the
//! endpoint (a local emulator), credentials and retry policy are decided in
//! one place. A policy in another account gets the [`Aws`] of that account
//! from [`Aws::in_account`]: the same configuration with the credentials of
//! the role drctl assumes there.

mod account;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use account::{AccountError, InAccount};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Settings for the AWS connection, from flags and the environment.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// `--endpoint-url`: a local emulator instead of AWS.
    pub endpoint_url: Option<String>,
    /// `--profile`; the standard chain otherwise.
    pub profile: Option<String>,
    /// The default region; policies name their own.
    pub region: Option<String>,
    /// Attempts per call, including the first (the SDK's standard retry
    /// with exponential backoff and jitter for throttling and 5xx).
    pub max_attempts: Option<u32>,
}

/// Clients for every region drctl touches, from one configuration.
pub struct Aws {
    config: SdkConfig,
    clients: Mutex<HashMap<String, Clients>>,
    /// The accounts reached from this configuration by a role, each once.
    assumed: Arc<account::Assumed>,
}

/// The clients of one region. Cheap to clone: they share connections.
#[derive(Clone, Debug)]
pub struct Clients {
    pub region: String,
    /// Scalable targets and policies of tables and GSIs (post-restore gaps).
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub backup: aws_sdk_backup::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    /// The export bucket drills read the source's point-in-time exports from.
    pub s3: aws_sdk_s3::Client,
}

/// Five attempts ride out short throttling bursts without hiding an outage.
const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl std::fmt::Debug for Aws {
    // The configuration holds credentials providers: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws").field("region", &self.config.region()).field("endpoint", &self.config.endpoint_url()).finish_non_exhaustive()
    }
}

impl Aws {
    /// Loads the standard AWS configuration chain once.
    pub async fn connect(connection: &Connection) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(endpoint) = &connection.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(profile) = &connection.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &connection.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let attempts = connection.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(attempts));
        Self::from_config(loader.load().await)
    }

    /// Wraps a configuration built elsewhere (tests build their own).
    pub fn from_config(config: SdkConfig) -> Self {
        Self { config, clients: Mutex::new(HashMap::new()), assumed: Arc::default() }
    }

    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The clients of `region`, built on first use.
    pub fn region(&self, region: &str) -> Clients {
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        clients.entry(region.to_string()).or_insert_with(|| self.build(region)).clone()
    }

    fn build(&self, region: &str) -> Clients {
        let region_value = Region::new(region.to_string());
        Clients {
            region: region.to_string(),
            autoscaling: aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(&self.config).region(region_value.clone()).build(),
            ),
            cloudformation: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(&self.config).region(region_value.clone()).build(),
            ),
            backup: aws_sdk_backup::Client::from_conf(
                aws_sdk_backup::config::Builder::from(&self.config).region(region_value.clone()).build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&self.config).region(region_value.clone()).build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&self.config).region(region_value.clone()).build()),
            // A custom endpoint (an emulator, a VPC endpoint by address)
            // serves buckets by path, not by host name.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&self.config)
                    .region(region_value)
                    .force_path_style(self.config.endpoint_url().is_some())
                    .build(),
            ),
        }
    }
}

/// The error code of any SDK error, modelled or not (CloudFormation's
/// `ValidationError` has no modelled variant).
pub fn error_code<E, R>(error: &aws_sdk_cloudformation::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata,
{
    match error {
        aws_sdk_cloudformation::error::SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Renders an SDK error with its code and message, never its request
/// (which may carry credentials in headers).
pub fn describe<E, R: std::fmt::Debug + 'static>(error: &aws_sdk_cloudformation::error::SdkError<E, R>) -> String
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            format!("{}: {}", err.code().unwrap_or("unknown error"), err.message().unwrap_or("no message"))
        }
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        SdkError::DispatchFailure(failure) if failure.is_io() => "could not reach the AWS endpoint".to_string(),
        other => chain(other),
    }
}

/// Error codes AWS services answer when the caller should slow down or
/// the service failed on its side: asking again later may succeed.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "SlowDown",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether `error` says "not now" rather than "no": a throttle, a server
/// error, a timeout or an endpoint that could not be reached. Such a
/// failure of a poll is not a failure of what is polled.
pub fn is_transient<E, R: std::fmt::Debug + 'static>(error: &aws_sdk_cloudformation::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    match error {
        SdkError::ServiceError(service) => service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => false,
    }
}

/// Error codes of a call AWS refused for a reason outside what is asked
/// about: the caller's access, its credentials, an account quota.
const REFUSAL_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "LimitExceededException",
    "ServiceQuotaExceededException",
];

/// Whether AWS refused `error`'s call for access, credentials or a quota:
/// a fact about drctl's setup, not about what it asked.
pub fn is_refusal<E, R: std::fmt::Debug + 'static>(error: &aws_sdk_cloudformation::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    error.as_service_error().and_then(|e| e.code()).is_some_and(|code| REFUSAL_CODES.contains(&code))
}

/// An error and its causes, by their Display forms only: the Debug form of
/// SDK errors carries raw responses.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
