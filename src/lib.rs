//! capsim — a deterministic discrete-event simulator of distributed systems.
//!
//! A scenario file (RON) describes clients, load balancers, servers, caches,
//! replicated stores, the network between them and a timeline of faults.
//! [`scenario`] loads and validates it, [`sim`] wires it into an
//! [`engine::Sim`], the engine runs it on virtual time, [`metrics`] records
//! what happened and [`report`] turns results into tables, files and charts.

pub mod charts_out;
pub mod cli;
pub mod components;
pub mod consistency;
pub mod detrand;
pub mod dist;
pub mod engine;
pub mod metrics;
pub mod output;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod theory;
