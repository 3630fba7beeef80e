//! Charts and the HTML report for a complete result set (filled in by the report layer).

use crate::output::{RunRecord, ScenarioInfo, Staging};

pub fn stage_charts(_st: &Staging, _info: &ScenarioInfo, _runs: &[RunRecord]) -> std::io::Result<()> {
    Ok(())
}
