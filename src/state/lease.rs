//! Leases: one run drives a policy at a time. A lease is a field of the
//! policy's record, taken, renewed and released by compare-and-swap writes,
//! so it holds on every backend; an expired lease may be taken over.

use serde::{Deserialize, Serialize};

use super::StateError;

/// Who holds a policy, and until when (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    pub owner: String,
    pub expires: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{policy} is held by {owner} until {}", super::rfc3339(*expires))]
    Held { policy: String, owner: String, expires: u64 },
    #[error(transparent)]
    State(#[from] StateError),
}
