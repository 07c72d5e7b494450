//! The local state file (`.drctl/state.json`).
// PLACEHOLDER (helper A replaces this whole file).

use std::path::PathBuf;

use super::{PolicyState, StateError, StateStore};

/// State in one JSON file, replaced atomically.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn open(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
    fn unbuilt(&self) -> StateError {
        StateError::File { path: self.path.display().to_string(), why: "not built yet".into() }
    }
}

#[async_trait::async_trait]
impl StateStore for FileStore {
    async fn get(&self, _policy: &str) -> Result<Option<PolicyState>, StateError> {
        Err(self.unbuilt())
    }
    async fn list(&self) -> Result<Vec<PolicyState>, StateError> {
        Err(self.unbuilt())
    }
    async fn put(&self, _state: &PolicyState) -> Result<PolicyState, StateError> {
        Err(self.unbuilt())
    }
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
