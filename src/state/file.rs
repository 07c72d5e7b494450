//! The local state file (`.drctl/state.json`).

/// State in one JSON file, replaced atomically.
#[derive(Debug)]
pub struct FileStore {}
