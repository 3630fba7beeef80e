//! Operation histories, anomaly detectors and the linearizability checker.
