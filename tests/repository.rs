//! The repository explains itself: nothing in it points a reader at files
//! outside it (a product contract or notes a clone does not have).

use std::process::Command;

/// Every tracked text file; none refers to a path above the repository or
/// to a specification it does not contain.
#[test]
fn no_file_refers_outside_the_repository() {
    let root = env!("CARGO_MANIFEST_DIR");
    let listed = Command::new("git").args(["ls-files", "-z"]).current_dir(root).output().expect("git ls-files");
    assert!(listed.status.success(), "git ls-files failed: run the tests from a clone");
    // Built from parts, so that this file does not match itself.
    let outside = [["..", "/shared"].concat(), ["SPEC", " §"].concat(), ["steering", " repository"].concat()];
    let mut found = Vec::new();
    let mut read = 0;
    for path in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let path = String::from_utf8_lossy(path).into_owned();
        let Ok(text) = std::fs::read_to_string(std::path::Path::new(root).join(&path)) else { continue };
        read += 1;
        for (number, line) in text.lines().enumerate() {
            if outside.iter().any(|needle| line.contains(needle.as_str())) {
                found.push(format!("{path}:{}: {line}", number + 1));
            }
        }
    }
    assert!(read > 100, "the tracked files were read ({read})");
    assert!(found.is_empty(), "references outside the repository:\n{}", found.join("\n"));
}
