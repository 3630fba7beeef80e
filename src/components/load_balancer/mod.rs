//! Load-balancer component, balancing policies and health checking.
//!
//! This directory owns everything a load balancer decides: [`policy`] (which
//! backend gets a request, selected by name through [`policy::PolicySpec`]) and
//! [`health`] (active checks, passive outlier ejection and the heartbeat failure
//! detector of an active–passive balancer pair). Both are pure logic: they are
//! fed snapshots and events by the load-balancer component, and must not
//! schedule events, read a clock, touch the network or draw randomness other
//! than from the `SimRng` they are handed.

pub mod component;
pub mod health;
pub mod policy;

pub use component::LoadBalancer;
pub use health::{
    ActiveCheckConfig, ActiveHealth, CheckPath, HealthError, HealthStatus, HeartbeatConfig,
    HeartbeatDetector, PassiveConfig, PassiveHealth, PassiveStats, PeerStatus, Transition,
};
pub use policy::{
    BackendView, Balancer, BalancerStats, LatencyEwma, PolicyError, PolicySpec, RequestInfo, Route,
    RouteMatch, build,
};
