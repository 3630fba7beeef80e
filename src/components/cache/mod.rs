//! Cache component and its eviction structures.
//!
//! [`eviction`] holds the cache store (replacement policies, TTL, capacities, dirty
//! queue); [`theory`] the analytical hit-ratio predictions it is validated against.
//! The cache component (cache-aside, read-through, write-through, ...) builds on
//! [`CacheStore`].

pub mod component;
pub mod eviction;
pub mod theory;

#[cfg(test)]
mod validation;

pub use component::Cache;
pub use eviction::{
    CacheConfig, CacheConfigError, CacheStats, CacheStore, Entry, EvictionPolicy, Lookup,
    PutOutcome, TtlMode,
};
