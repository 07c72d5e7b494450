//! Desired against deployed (SPEC §4): what `drctl reconcile --dry-run`
//! shows a reviewer before anything changes.

pub mod model;

pub use model::*;
