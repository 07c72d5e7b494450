//! drctl: keeps the disaster-recovery policies of DynamoDB tables true.
//!
//! The crate reads as the pipeline it runs:
//! policy → render → diff → apply → drill → record → announce.
//! `policy` and `render` are the pure core: they know nothing of git or AWS.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod drill;
pub mod failpoint;
pub mod gc;
pub mod iam;
pub mod lambda;
pub mod markup;
pub mod metrics;
pub mod nonce;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod source;
pub mod state;
pub mod status;
