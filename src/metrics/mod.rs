//! Recorders for what happened in a run: end-to-end latency (HdrHistogram),
//! counts per time bucket, per-node utilization and queue length (time-weighted),
//! and Little's-law bookkeeping. Streaming: memory grows with the number of
//! buckets and histogram buckets, never with the number of requests.

pub mod recorder;
pub mod stats;

pub use recorder::{Outcome, Recorder};
