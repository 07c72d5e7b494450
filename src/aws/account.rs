//! Other accounts: the role of `desired/_accounts.yaml` assumed from drctl's
//! own credentials (the first hop), once per account and role, and checked
//! before any call is made with it.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::Aws;
use crate::policy::accounts::Account;

/// Why drctl cannot act in an account: its policies fail with this, the
/// other accounts' go on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AccountError {
    #[error("cannot assume {role} in account {account}: {why}")]
    Unassumable { account: String, role: String, why: String },
}

/// The [`Aws`] of one account: drctl's own, or one reached by a role.
pub enum InAccount<'a> {
    Own(&'a Aws),
    Assumed(Arc<Aws>),
}

impl Deref for InAccount<'_> {
    type Target = Aws;

    fn deref(&self) -> &Aws {
        match self {
            Self::Own(aws) => aws,
            Self::Assumed(aws) => aws,
        }
    }
}

/// An account as reached: its id, the role and the external id. A role
/// changed in the accounts file is assumed anew.
type Reach = (String, String, Option<String>);

/// How long a role that could not be assumed is not asked again: one run's
/// policies of an unreachable account fail on one answer, and the next
/// pass of `watch` asks anew.
const FAILURE_HELD: std::time::Duration = std::time::Duration::from_secs(60);

/// The accounts reached so far, and those recently refused.
#[derive(Default)]
pub(super) struct Assumed {
    reached: tokio::sync::Mutex<HashMap<Reach, Arc<Aws>>>,
    refused: std::sync::Mutex<HashMap<Reach, (std::time::Instant, AccountError)>>,
    /// `drctl-<nonce>`: every session of this process is told apart in
    /// CloudTrail by it.
    session: std::sync::OnceLock<String>,
}

impl Assumed {
    fn session(&self) -> &str {
        self.session.get_or_init(|| format!("drctl-{}", crate::nonce::hex(8)))
    }

    fn recently_refused(&self, key: &Reach) -> Option<AccountError> {
        let refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        refused.get(key).filter(|(at, _)| at.elapsed() < FAILURE_HELD).map(|(_, error)| error.clone())
    }

    fn refuse(&self, key: Reach, error: AccountError) {
        let mut refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        refused.insert(key, (std::time::Instant::now(), error));
    }
}

impl Aws {
    /// The account these credentials act in (STS GetCallerIdentity, which
    /// needs no permission).
    pub async fn caller_account(&self) -> Result<String, String> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        let identity = sts.get_caller_identity().send().await.map_err(|e| super::chain(&e))?;
        identity.account().map(str::to_string).ok_or_else(|| "GetCallerIdentity answered no account".to_string())
    }

    /// The [`Aws`] that acts in `account`: this one when `account` is
    /// `None` or has no role (drctl's own account), else the same
    /// configuration with the credentials of `account.role`, assumed from
    /// this one's. The role is assumed (and so checked) before this
    /// returns; a failure is remembered for a minute only, so a fixed trust
    /// policy is used by the next pass of `watch` without a restart.
    pub async fn in_account(&self, account: Option<&Account>) -> Result<InAccount<'_>, AccountError> {
        let Some((account, role)) = account.and_then(|a| Some((a, a.role.as_deref()?))) else {
            return Ok(InAccount::Own(self));
        };
        let key = (account.id.clone(), role.to_string(), account.external_id.clone());
        let mut reached = self.assumed.reached.lock().await;
        if let Some(aws) = reached.get(&key) {
            return Ok(InAccount::Assumed(aws.clone()));
        }
        if let Some(error) = self.assumed.recently_refused(&key) {
            return Err(error);
        }
        let mut builder = AssumeRoleProvider::builder(role).session_name(self.assumed.session()).configure(&self.config);
        if let Some(external_id) = &account.external_id {
            builder = builder.external_id(external_id);
        }
        let provider = Box::pin(builder.build()).await;
        let unassumable = |why: String| AccountError::Unassumable { account: account.id.clone(), role: role.to_string(), why };
        // Asked now, so that a role nobody can assume is one clear error per
        // policy, not a credentials failure inside some later call.
        if let Err(e) = Box::pin(provider.provide_credentials()).await {
            let error = unassumable(super::chain(&e));
            self.assumed.refuse(key, error.clone());
            return Err(error);
        }
        tracing::info!(account = %account.id, %role, session = self.assumed.session(), "role assumed");
        let config = self.config.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
        let aws = Arc::new(Aws::from_config(config));
        reached.insert(key, aws.clone());
        Ok(InAccount::Assumed(aws))
    }
}
