//! `drctl schema`: the JSON Schema of a policy file, for editors' YAML
//! language servers (committed as schema/drctl-v1.json).

use super::exit;

pub fn run() -> anyhow::Result<u8> {
    println!("{}", crate::policy::json_schema());
    Ok(exit::OK)
}
