//! Operation histories, anomaly detectors and the linearizability checker.

pub mod anomalies;
mod edn;
pub mod history;
pub mod jepsen;
pub mod linearizability;
pub mod testgen;
