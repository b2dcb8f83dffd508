//! Where the recorded upstream responses live — `tests/fixtures/<connector>/` at the workspace
//! root, with their `PROVENANCE.md` and `API_FACTS.md` — for the tests, benches and fuzz targets
//! of both crates: one place, which `APIARY_FIXTURES` may point elsewhere. Not used at run time.

use std::path::PathBuf;

/// The fixtures folder.
pub fn dir() -> PathBuf {
    match std::env::var("APIARY_FIXTURES") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures"),
    }
}

/// The bytes of fixture `rel` (e.g. `arxiv/query_search_testing_start0_max10_success.xml`);
/// a missing fixture is a broken checkout, and says so.
pub fn read(rel: &str) -> Vec<u8> {
    let path = dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e} (the repository's tests/fixtures)", path.display()))
}
