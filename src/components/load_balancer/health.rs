//! Health checking: active checks, passive outlier ejection, heartbeat failure detection.
//!
//! This module owns three pure state machines that the load-balancer component
//! feeds with events: [`ActiveHealth`] (periodic probes with consecutive-success /
//! consecutive-failure thresholds, as HAProxy `rise`/`fall` or Envoy health
//! checks), [`PassiveHealth`] (eject a backend after `m` consecutive errors of real
//! traffic, re-admit it after a period, on probation — Envoy's outlier detection)
//! and [`HeartbeatDetector`] (the standby of an active–passive balancer pair
//! suspecting its peer when heartbeats stop). It must not send checks, schedule
//! timers, read a clock or draw randomness: the component sends checks every
//! interval, times them out, and reports results with the current virtual time;
//! this module only says when a backend's status changes. It also states the
//! exact detection-time bounds of the active-check design
//! ([`ActiveCheckConfig::detection_bounds_ns`]) so reports can compare them with
//! measurements.
//!
//! # Time to detect a crash with active checks
//!
//! Design: checks to a backend are sent at a fixed rate, at `t_j = φ + j·i`
//! (interval `i`), independently of earlier results. A check succeeds if the
//! backend receives it and sends its reply; the result then arrives one round
//! trip `r` after sending. Otherwise it fails when its timeout `τ` expires, at
//! `t_j + τ`. We require `r < τ ≤ i` (validated: `τ ≤ i`): then every result
//! arrives before the next check's result, so results are seen in send order.
//! The backend is ejected at the `k`-th consecutive failure (`unhealthy_threshold`).
//!
//! Let `a` be the time from sending a check to the backend sending its reply
//! (one-way request latency + processing, [`CheckPath`]). A backend that crashes
//! at time `c` fails exactly the checks with `t_j + a ≥ c`, including checks in
//! flight at the crash. The first failing check is sent at `t_f = c − a + δ`,
//! where `δ ∈ [0, i)` is the phase of the check schedule relative to `c − a`;
//! all earlier checks succeeded and their results arrived before `t_f + τ`. The
//! `k`-th consecutive failure is the check sent at `t_f + (k−1)·i` and is seen at
//! `t_f + (k−1)·i + τ`, so the time to detect is
//!
//! ```text
//! D = (k−1)·i + τ − a + δ  ∈  [(k−1)·i + τ − a,  k·i + τ − a)
//! ```
//!
//! (with `a = 0` when checks are answered locally: `[(k−1)·i + τ, k·i + τ)`).
//! With the crash phase uniform, `δ ~ U[0, i)` and `E[D] = (k − ½)·i + τ − a`;
//! `D` is uniform on its interval, with standard deviation `i / √12`. Network
//! latency shortens detection by `a` because checks already in flight at the
//! crash fail too. On integer nanoseconds the upper bound is exclusive: `D ≤
//! k·i + τ − a − 1`.
//!
//! Re-admission after a restart at `R` is symmetric: a check succeeds iff it
//! reaches the backend at or after `R` (`t_j + request ≥ R`) and its success is
//! seen at `t_j + r`, so with `h` = `healthy_threshold` the time to re-admit is
//! `[(h−1)·i + r − request, h·i + r − request)` =
//! `[(h−1)·i + processing + response, h·i + processing + response)`
//! ([`ActiveCheckConfig::readmission_bounds_ns`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Health of a backend as the load balancer believes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthStatus {
    /// Receives traffic.
    Healthy,
    /// Receives no traffic.
    Unhealthy,
}

/// A change of a backend's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Backend index.
    pub backend: usize,
    /// New status.
    pub to: HealthStatus,
    /// When the change happened (the time of the event that caused it).
    pub at_ns: u64,
}

/// Errors in a health-checking configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// A zero interval.
    #[error("{what} interval must be > 0 ns")]
    ZeroInterval {
        /// Which configuration.
        what: &'static str,
    },
    /// Active-check timeout not in (0, interval].
    #[error(
        "active check timeout_ns must be in 1..=interval_ns (got timeout {timeout_ns} ns, \
         interval {interval_ns} ns): a check must time out before the next one is sent"
    )]
    TimeoutOutOfRange {
        /// Given timeout.
        timeout_ns: u64,
        /// Given interval.
        interval_ns: u64,
    },
    /// A threshold of zero.
    #[error("{which} must be >= 1 (got 0)")]
    ZeroThreshold {
        /// Which threshold.
        which: &'static str,
    },
    /// Passive ejection period of zero.
    #[error("passive ejection_ns must be > 0 (got 0)")]
    ZeroEjection,
    /// Percentage above 100.
    #[error("max_ejection_percent must be in 0..=100 (got {0})")]
    BadPercent(u32),
    /// Heartbeat timeout not longer than the interval.
    #[error(
        "heartbeat timeout_ns ({timeout_ns}) must exceed interval_ns ({interval_ns}) plus the \
         latency jitter, or a live peer will be suspected"
    )]
    HeartbeatTimeoutTooShort {
        /// Given timeout.
        timeout_ns: u64,
        /// Given interval.
        interval_ns: u64,
    },
}

// ---------------------------------------------------------------------------
// Active checks

/// Active health-check parameters (see the module docs for the timing model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveCheckConfig {
    /// Time between checks sent to one backend (`i`).
    pub interval_ns: u64,
    /// A check with no reply after this long fails (`τ`, `0 < τ ≤ i`).
    pub timeout_ns: u64,
    /// Consecutive successes to re-admit an unhealthy backend (`h`).
    pub healthy_threshold: u32,
    /// Consecutive failures to eject a healthy backend (`k`).
    pub unhealthy_threshold: u32,
}

/// Latencies a check experiences (all zero when answered locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckPath {
    /// Load balancer → backend.
    pub request_ns: u64,
    /// Backend time to answer.
    pub processing_ns: u64,
    /// Backend → load balancer.
    pub response_ns: u64,
}

impl CheckPath {
    /// Send-to-reply time of a successful check; must be `< timeout_ns`.
    pub fn round_trip_ns(&self) -> u64 {
        self.request_ns
            .saturating_add(self.processing_ns)
            .saturating_add(self.response_ns)
    }
}

impl ActiveCheckConfig {
    /// Checks `interval > 0`, `0 < timeout ≤ interval`, thresholds ≥ 1.
    pub fn validate(&self) -> Result<(), HealthError> {
        if self.interval_ns == 0 {
            return Err(HealthError::ZeroInterval {
                what: "active check",
            });
        }
        if self.timeout_ns == 0 || self.timeout_ns > self.interval_ns {
            return Err(HealthError::TimeoutOutOfRange {
                timeout_ns: self.timeout_ns,
                interval_ns: self.interval_ns,
            });
        }
        if self.healthy_threshold == 0 {
            return Err(HealthError::ZeroThreshold {
                which: "healthy_threshold",
            });
        }
        if self.unhealthy_threshold == 0 {
            return Err(HealthError::ZeroThreshold {
                which: "unhealthy_threshold",
            });
        }
        Ok(())
    }

    /// Exact half-open range `[lo, hi)` of crash-to-ejection time:
    /// `[(k−1)·i + τ − a, k·i + τ − a)` with `a = request + processing`
    /// (derivation in the module docs; requires `path.round_trip_ns() < τ`).
    pub fn detection_bounds_ns(&self, path: CheckPath) -> (u64, u64) {
        let a = path.request_ns.saturating_add(path.processing_ns);
        let k = u64::from(self.unhealthy_threshold);
        let base = k
            .saturating_sub(1)
            .saturating_mul(self.interval_ns)
            .saturating_add(self.timeout_ns)
            .saturating_sub(a);
        (base, base.saturating_add(self.interval_ns))
    }

    /// Mean crash-to-ejection time under a uniform crash phase: `(k − ½)·i + τ − a`.
    pub fn mean_detection_ns(&self, path: CheckPath) -> f64 {
        let (lo, hi) = self.detection_bounds_ns(path);
        (lo as f64 + hi as f64) / 2.0
    }

    /// Exact half-open range of restart-to-re-admission time:
    /// `[(h−1)·i + processing + response, h·i + processing + response)`.
    pub fn readmission_bounds_ns(&self, path: CheckPath) -> (u64, u64) {
        let back = path.processing_ns.saturating_add(path.response_ns);
        let h = u64::from(self.healthy_threshold);
        let base = h
            .saturating_sub(1)
            .saturating_mul(self.interval_ns)
            .saturating_add(back);
        (base, base.saturating_add(self.interval_ns))
    }
}

#[derive(Debug, Clone, Copy)]
struct ActiveState {
    status: HealthStatus,
    consecutive_ok: u32,
    consecutive_fail: u32,
}

impl ActiveState {
    const HEALTHY: Self = Self {
        status: HealthStatus::Healthy,
        consecutive_ok: 0,
        consecutive_fail: 0,
    };
}

/// Per-backend active-check state: ejects after `unhealthy_threshold` consecutive
/// failed checks, re-admits after `healthy_threshold` consecutive successes.
/// Backends start healthy (use [`set_status`](Self::set_status) to start them
/// unhealthy until proven, as Envoy does).
#[derive(Debug, Clone)]
pub struct ActiveHealth {
    config: ActiveCheckConfig,
    backends: Vec<ActiveState>,
}

impl ActiveHealth {
    /// For `n_backends` backends, all healthy.
    pub fn new(config: ActiveCheckConfig, n_backends: usize) -> Result<Self, HealthError> {
        config.validate()?;
        Ok(Self {
            config,
            backends: vec![ActiveState::HEALTHY; n_backends],
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ActiveCheckConfig {
        &self.config
    }

    /// Changes the number of backends (new ones start healthy).
    pub fn resize(&mut self, n_backends: usize) {
        self.backends.resize(n_backends, ActiveState::HEALTHY);
    }

    /// Number of backends tracked.
    pub fn len(&self) -> usize {
        self.backends.len()
    }

    /// Whether no backends are tracked.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// Status of `backend` (`None` if out of range).
    pub fn status(&self, backend: usize) -> Option<HealthStatus> {
        self.backends.get(backend).map(|s| s.status)
    }

    /// Whether `backend` is healthy (false if out of range).
    pub fn is_healthy(&self, backend: usize) -> bool {
        self.status(backend) == Some(HealthStatus::Healthy)
    }

    /// Forces a status and clears the counters (e.g. start unhealthy).
    pub fn set_status(&mut self, backend: usize, status: HealthStatus) {
        if let Some(s) = self.backends.get_mut(backend) {
            *s = ActiveState {
                status,
                consecutive_ok: 0,
                consecutive_fail: 0,
            };
        }
    }

    /// Records one check result (`ok = false` for an error or a timeout) seen at
    /// `now_ns`; returns the status change it causes, if any. Results for
    /// out-of-range backends are ignored.
    pub fn on_result(&mut self, backend: usize, ok: bool, now_ns: u64) -> Option<Transition> {
        let (h, k) = (
            self.config.healthy_threshold,
            self.config.unhealthy_threshold,
        );
        let s = self.backends.get_mut(backend)?;
        if ok {
            s.consecutive_fail = 0;
            s.consecutive_ok = s.consecutive_ok.saturating_add(1);
            if s.status == HealthStatus::Unhealthy && s.consecutive_ok >= h {
                s.status = HealthStatus::Healthy;
                return Some(Transition {
                    backend,
                    to: HealthStatus::Healthy,
                    at_ns: now_ns,
                });
            }
        } else {
            s.consecutive_ok = 0;
            s.consecutive_fail = s.consecutive_fail.saturating_add(1);
            if s.status == HealthStatus::Healthy && s.consecutive_fail >= k {
                s.status = HealthStatus::Unhealthy;
                return Some(Transition {
                    backend,
                    to: HealthStatus::Unhealthy,
                    at_ns: now_ns,
                });
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------
// Passive ejection

fn default_probation_successes() -> u32 {
    1
}

fn default_max_ejection_percent() -> u32 {
    100
}

/// Passive outlier-detection parameters (Envoy `consecutive_5xx`-style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveConfig {
    /// Consecutive errors or timeouts of real traffic that eject a backend (`m`).
    pub consecutive_errors: u32,
    /// How long an ejected backend stays out (`p`).
    pub ejection_ns: u64,
    /// Successes needed after re-admission to leave probation (default 1). A
    /// single failure during probation ejects again.
    #[serde(default = "default_probation_successes")]
    pub probation_successes: u32,
    /// At most this percentage of backends may be ejected at once (Envoy's
    /// `max_ejection_percent`; at least one backend may always be ejected).
    /// Default 100.
    #[serde(default = "default_max_ejection_percent")]
    pub max_ejection_percent: u32,
}

impl PassiveConfig {
    /// Checks thresholds ≥ 1, period > 0, percentage ≤ 100.
    pub fn validate(&self) -> Result<(), HealthError> {
        if self.consecutive_errors == 0 {
            return Err(HealthError::ZeroThreshold {
                which: "consecutive_errors",
            });
        }
        if self.probation_successes == 0 {
            return Err(HealthError::ZeroThreshold {
                which: "probation_successes",
            });
        }
        if self.ejection_ns == 0 {
            return Err(HealthError::ZeroEjection);
        }
        if self.max_ejection_percent > 100 {
            return Err(HealthError::BadPercent(self.max_ejection_percent));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassiveState {
    /// In service; `errors` consecutive errors so far.
    Active { errors: u32 },
    /// Out of service until `until_ns`.
    Ejected { until_ns: u64 },
    /// Back in service; one failure ejects again.
    Probation { successes: u32 },
}

/// Passive-ejection counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PassiveStats {
    /// Ejections performed (including re-ejections from probation).
    pub ejections: u64,
    /// Ejections skipped because of `max_ejection_percent`.
    pub ejections_prevented: u64,
    /// Re-admissions.
    pub readmissions: u64,
}

/// Passive outlier detection over real traffic: a backend is ejected after
/// `consecutive_errors` consecutive failed requests, re-admitted after
/// `ejection_ns` on probation (one failure ejects it again, `probation_successes`
/// successes end probation). Results for an ejected backend (late replies to
/// requests sent before the ejection) are ignored. Re-admission is time-driven:
/// the component schedules a timer at [`next_readmission_ns`](Self::next_readmission_ns)
/// and calls [`poll`](Self::poll).
#[derive(Debug, Clone)]
pub struct PassiveHealth {
    config: PassiveConfig,
    state: Vec<PassiveState>,
    /// `(until_ns, backend)` of ejected backends, earliest first.
    deadlines: BTreeSet<(u64, usize)>,
    stats: PassiveStats,
}

impl PassiveHealth {
    /// For `n_backends` backends, all in service.
    pub fn new(config: PassiveConfig, n_backends: usize) -> Result<Self, HealthError> {
        config.validate()?;
        Ok(Self {
            config,
            state: vec![PassiveState::Active { errors: 0 }; n_backends],
            deadlines: BTreeSet::new(),
            stats: PassiveStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PassiveConfig {
        &self.config
    }

    /// Changes the number of backends: new ones start in service; removed ones'
    /// pending re-admissions are dropped.
    pub fn resize(&mut self, n_backends: usize) {
        self.state
            .resize(n_backends, PassiveState::Active { errors: 0 });
        self.deadlines.retain(|&(_, b)| b < n_backends);
    }

    /// Whether `backend` may receive traffic (not ejected; false if out of range).
    pub fn is_available(&self, backend: usize) -> bool {
        matches!(
            self.state.get(backend),
            Some(PassiveState::Active { .. } | PassiveState::Probation { .. })
        )
    }

    /// Whether `backend` is on probation.
    pub fn in_probation(&self, backend: usize) -> bool {
        matches!(
            self.state.get(backend),
            Some(PassiveState::Probation { .. })
        )
    }

    /// Number of backends currently ejected.
    pub fn ejected_count(&self) -> usize {
        self.deadlines.len()
    }

    /// Counters.
    pub fn stats(&self) -> PassiveStats {
        self.stats
    }

    /// Earliest pending re-admission time, if any backend is ejected.
    pub fn next_readmission_ns(&self) -> Option<u64> {
        self.deadlines.first().map(|&(t, _)| t)
    }

    /// Records a successful request to `backend`.
    pub fn on_success(&mut self, backend: usize, _now_ns: u64) {
        let needed = self.config.probation_successes;
        let Some(s) = self.state.get_mut(backend) else {
            return;
        };
        match *s {
            PassiveState::Active { .. } => *s = PassiveState::Active { errors: 0 },
            PassiveState::Probation { successes } => {
                let successes = successes.saturating_add(1);
                *s = if successes >= needed {
                    PassiveState::Active { errors: 0 }
                } else {
                    PassiveState::Probation { successes }
                };
            }
            PassiveState::Ejected { .. } => {}
        }
    }

    /// Records a failed request (error or timeout) to `backend` at `now_ns`;
    /// returns the ejection it causes, if any.
    pub fn on_failure(&mut self, backend: usize, now_ns: u64) -> Option<Transition> {
        let m = self.config.consecutive_errors;
        let s = *self.state.get(backend)?;
        let eject = match s {
            PassiveState::Active { errors } => {
                let errors = errors.saturating_add(1);
                self.state[backend] = PassiveState::Active { errors };
                errors >= m
            }
            PassiveState::Probation { .. } => true,
            PassiveState::Ejected { .. } => false,
        };
        if !eject {
            return None;
        }
        let n = self.state.len();
        let allowed = (n * self.config.max_ejection_percent as usize / 100).max(1);
        if self.deadlines.len() >= allowed {
            self.stats.ejections_prevented += 1;
            return None;
        }
        let until_ns = now_ns.saturating_add(self.config.ejection_ns);
        self.state[backend] = PassiveState::Ejected { until_ns };
        self.deadlines.insert((until_ns, backend));
        self.stats.ejections += 1;
        Some(Transition {
            backend,
            to: HealthStatus::Unhealthy,
            at_ns: now_ns,
        })
    }

    /// Re-admits (on probation) every backend whose ejection ended at or before
    /// `now_ns`, appending the transitions to `out` in deadline order.
    pub fn poll(&mut self, now_ns: u64, out: &mut Vec<Transition>) {
        while let Some(&(until_ns, backend)) = self.deadlines.first() {
            if until_ns > now_ns {
                break;
            }
            self.deadlines.pop_first();
            let Some(s) = self.state.get_mut(backend) else {
                continue;
            };
            *s = PassiveState::Probation { successes: 0 };
            self.stats.readmissions += 1;
            out.push(Transition {
                backend,
                to: HealthStatus::Healthy,
                at_ns: until_ns,
            });
        }
    }
}

// ---------------------------------------------------------------------------
// Heartbeats

/// Heartbeat failure-detector parameters for an active–passive balancer pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// The active peer sends a heartbeat every `interval_ns`.
    pub interval_ns: u64,
    /// The standby suspects the peer when nothing arrived for `timeout_ns`.
    /// Must exceed `interval_ns` plus the heartbeat latency jitter.
    pub timeout_ns: u64,
}

impl HeartbeatConfig {
    /// Checks `interval > 0` and `timeout > interval`.
    pub fn validate(&self) -> Result<(), HealthError> {
        if self.interval_ns == 0 {
            return Err(HealthError::ZeroInterval { what: "heartbeat" });
        }
        if self.timeout_ns <= self.interval_ns {
            return Err(HealthError::HeartbeatTimeoutTooShort {
                timeout_ns: self.timeout_ns,
                interval_ns: self.interval_ns,
            });
        }
        Ok(())
    }

    /// Exact half-open range `[τ + d − i, τ + d)` of crash-to-suspicion time when
    /// every heartbeat takes `latency_ns = d` and the standby checks at each
    /// deadline: the last heartbeat was sent at `s ∈ [c − i, c)` (a crashed peer
    /// sends nothing from `c` on), arrives at `s + d` and suspicion follows at
    /// `s + d + τ`. With latency varying in `[d_min, d_max]` the range widens to
    /// `[τ + d_min − i, τ + d_max)`, and no live peer is ever suspected while
    /// `τ > i + (d_max − d_min)`.
    pub fn detection_bounds_ns(&self, latency_ns: u64) -> (u64, u64) {
        let hi = self.timeout_ns.saturating_add(latency_ns);
        (hi.saturating_sub(self.interval_ns), hi)
    }
}

/// What the standby believes about its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerStatus {
    /// Heartbeats are arriving.
    Alive,
    /// No heartbeat for `timeout_ns`: take over.
    Suspected,
}

/// Timeout-based failure detector on heartbeats. The component calls
/// [`on_heartbeat`](Self::on_heartbeat) on each arrival, keeps a timer at
/// [`deadline_ns`](Self::deadline_ns) and calls [`check`](Self::check) when it fires.
#[derive(Debug, Clone)]
pub struct HeartbeatDetector {
    config: HeartbeatConfig,
    last_heard_ns: u64,
    status: PeerStatus,
}

impl HeartbeatDetector {
    /// Starts at `now_ns` trusting the peer as if it had just been heard.
    pub fn new(config: HeartbeatConfig, now_ns: u64) -> Result<Self, HealthError> {
        config.validate()?;
        Ok(Self {
            config,
            last_heard_ns: now_ns,
            status: PeerStatus::Alive,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HeartbeatConfig {
        &self.config
    }

    /// Current belief.
    pub fn status(&self) -> PeerStatus {
        self.status
    }

    /// Time of the latest heartbeat heard.
    pub fn last_heard_ns(&self) -> u64 {
        self.last_heard_ns
    }

    /// When the peer becomes suspect if nothing more arrives.
    pub fn deadline_ns(&self) -> u64 {
        self.last_heard_ns.saturating_add(self.config.timeout_ns)
    }

    /// A heartbeat arrived at `now_ns`; returns `Some(Alive)` if the peer was
    /// suspected (it came back).
    pub fn on_heartbeat(&mut self, now_ns: u64) -> Option<PeerStatus> {
        self.last_heard_ns = self.last_heard_ns.max(now_ns);
        if self.status == PeerStatus::Suspected {
            self.status = PeerStatus::Alive;
            return Some(PeerStatus::Alive);
        }
        None
    }

    /// Evaluates the timeout at `now_ns`; returns `Some(Suspected)` when the peer
    /// becomes suspect.
    pub fn check(&mut self, now_ns: u64) -> Option<PeerStatus> {
        if self.status == PeerStatus::Alive && now_ns >= self.deadline_ns() {
            self.status = PeerStatus::Suspected;
            return Some(PeerStatus::Suspected);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detrand::stream;
    use rand::Rng;

    const MS: u64 = 1_000_000;

    /// Backend up on `[0, crash) ∪ [restart, ∞)`.
    #[derive(Clone, Copy)]
    struct Life {
        crash_ns: u64,
        restart_ns: u64,
    }

    /// Outcome of the check sent at `t`: it succeeds iff the backend is up from
    /// the moment the check arrives until it sends the reply; the result is seen
    /// one round trip later, a failure when the timeout expires.
    fn check_result(t: u64, life: Life, path: CheckPath, cfg: &ActiveCheckConfig) -> (u64, bool) {
        let arrive = t + path.request_ns;
        let reply = arrive + path.processing_ns;
        let up = reply < life.crash_ns || arrive >= life.restart_ns;
        if up {
            (t + path.round_trip_ns(), true)
        } else {
            (t + cfg.timeout_ns, false)
        }
    }

    /// Runs one backend's check timeline (first check at `phase_ns`) through
    /// `ActiveHealth`; returns (ejection time, re-admission time).
    fn timeline(cfg: ActiveCheckConfig, path: CheckPath, phase_ns: u64, life: Life) -> (u64, u64) {
        let mut health = ActiveHealth::new(cfg, 1).unwrap();
        // Results of checks in send order, then sorted by arrival so the test
        // does not assume the ordering argument of the module docs.
        let horizon = life.restart_ns + (u64::from(cfg.healthy_threshold) + 3) * cfg.interval_ns;
        let mut results: Vec<(u64, u64, bool)> = Vec::new();
        let mut t = phase_ns;
        while t < horizon {
            let (at, ok) = check_result(t, life, path, &cfg);
            results.push((at, t, ok));
            t += cfg.interval_ns;
        }
        results.sort_unstable();
        let (mut down, mut up) = (None, None);
        for (at, _, ok) in results {
            if let Some(tr) = health.on_result(0, ok, at) {
                match tr.to {
                    HealthStatus::Unhealthy => {
                        assert!(down.is_none(), "ejected twice");
                        down = Some(tr.at_ns);
                    }
                    HealthStatus::Healthy => {
                        assert!(down.is_some(), "re-admitted before ejection");
                        up = Some(tr.at_ns);
                        break;
                    }
                }
            }
        }
        (
            down.expect("crash never detected"),
            up.expect("never re-admitted"),
        )
    }

    fn check_detection_theory(cfg: ActiveCheckConfig, path: CheckPath, label: &str) {
        // N = 10,000 crash phases. D is uniform on [lo, hi), sd = i/√12, so the
        // sample mean has sd i/√(12 N) = 0.0029·i; tolerance 4 sd = 0.0115·i.
        let n = 10_000u64;
        let i = cfg.interval_ns;
        let (lo, hi) = cfg.detection_bounds_ns(path);
        let (rlo, rhi) = cfg.readmission_bounds_ns(path);
        let (mut sum_d, mut sum_r) = (0.0, 0.0);
        let (mut min_d, mut max_d) = (u64::MAX, 0);
        for seed in 0..n {
            let mut rng = stream(seed, "active-health-timeline");
            let phase = rng.random_range(0..i);
            let crash_ns = 20 * i + rng.random_range(0..i);
            // Restart well after detection, with its own random phase.
            let restart_ns = crash_ns + hi + rng.random_range(0..3 * i);
            let life = Life {
                crash_ns,
                restart_ns,
            };
            let (down, up) = timeline(cfg, path, phase, life);
            let d = down - crash_ns;
            let r = up - restart_ns;
            assert!(
                lo <= d && d < hi,
                "{label} seed {seed}: detection {d} not in [{lo}, {hi})"
            );
            assert!(
                rlo <= r && r < rhi,
                "{label} seed {seed}: re-admission {r} not in [{rlo}, {rhi})"
            );
            sum_d += d as f64;
            sum_r += r as f64;
            min_d = min_d.min(d);
            max_d = max_d.max(d);
        }
        let mean_d = sum_d / n as f64;
        let mean_r = sum_r / n as f64;
        let theory_d = cfg.mean_detection_ns(path);
        let k = f64::from(cfg.unhealthy_threshold);
        let a = (path.request_ns + path.processing_ns) as f64;
        assert_eq!(theory_d, (k - 0.5) * i as f64 + cfg.timeout_ns as f64 - a);
        let theory_r = (rlo + rhi) as f64 / 2.0;
        let tol = 4.0 * i as f64 / (12.0 * n as f64).sqrt();
        eprintln!(
            "{label}: detection mean {:.2} ms (theory {:.2} ms, tol {:.2} ms), range [{:.1}, {:.1}] ms \
             within [{:.1}, {:.1}); re-admission mean {:.2} ms (theory {:.2})",
            mean_d / MS as f64,
            theory_d / MS as f64,
            tol / MS as f64,
            min_d as f64 / MS as f64,
            max_d as f64 / MS as f64,
            lo as f64 / MS as f64,
            hi as f64 / MS as f64,
            mean_r / MS as f64,
            theory_r / MS as f64
        );
        assert!(
            (mean_d - theory_d).abs() < tol,
            "{label}: mean detection {mean_d} vs {theory_d}"
        );
        assert!(
            (mean_r - theory_r).abs() < tol,
            "{label}: mean re-admission {mean_r} vs {theory_r}"
        );
        // The bounds are tight: the sample reaches within 1% of the interval of both ends.
        assert!(
            min_d - lo < i / 100 && hi - max_d < i / 100,
            "{label}: bounds not tight"
        );
    }

    #[test]
    fn active_check_detection_time_lies_in_exact_bounds_local_checks() {
        let cfg = ActiveCheckConfig {
            interval_ns: 1_000 * MS,
            timeout_ns: 200 * MS,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        };
        assert_eq!(
            cfg.detection_bounds_ns(CheckPath::default()),
            (2_200 * MS, 3_200 * MS)
        );
        check_detection_theory(cfg, CheckPath::default(), "local, k=3 h=2");
    }

    #[test]
    fn active_check_detection_time_lies_in_exact_bounds_across_a_link() {
        let cfg = ActiveCheckConfig {
            interval_ns: 500 * MS,
            timeout_ns: 300 * MS,
            healthy_threshold: 3,
            unhealthy_threshold: 2,
        };
        let path = CheckPath {
            request_ns: 20 * MS,
            processing_ns: 5 * MS,
            response_ns: 30 * MS,
        };
        // In-flight checks fail too: detection is shortened by request + processing.
        assert_eq!(cfg.detection_bounds_ns(path), (775 * MS, 1_275 * MS));
        assert_eq!(cfg.readmission_bounds_ns(path), (1_035 * MS, 1_535 * MS));
        check_detection_theory(cfg, path, "link, k=2 h=3");
    }

    #[test]
    fn active_thresholds_need_consecutive_results() {
        let cfg = ActiveCheckConfig {
            interval_ns: 10,
            timeout_ns: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        };
        let mut h = ActiveHealth::new(cfg, 2).unwrap();
        // fail, fail, ok, fail, fail: never three in a row.
        for (t, ok) in [(0, false), (1, false), (2, true), (3, false), (4, false)] {
            assert_eq!(h.on_result(0, ok, t), None);
        }
        let tr = h.on_result(0, false, 5).unwrap();
        assert_eq!(
            tr,
            Transition {
                backend: 0,
                to: HealthStatus::Unhealthy,
                at_ns: 5
            }
        );
        assert!(!h.is_healthy(0));
        assert!(h.is_healthy(1), "backends are independent");
        assert_eq!(h.on_result(0, false, 6), None, "already unhealthy");
        assert_eq!(h.on_result(0, true, 7), None);
        assert_eq!(h.on_result(0, false, 8), None);
        assert_eq!(h.on_result(0, true, 9), None);
        assert_eq!(
            h.on_result(0, true, 10).map(|t| t.to),
            Some(HealthStatus::Healthy)
        );
        // Out-of-range backends are ignored, not a panic.
        assert_eq!(h.on_result(99, false, 11), None);
        assert_eq!(h.status(99), None);
        h.resize(3);
        assert!(h.is_healthy(2));
        h.set_status(2, HealthStatus::Unhealthy);
        assert!(!h.is_healthy(2));
    }

    #[test]
    fn health_configs_reject_bad_values() {
        let ok = ActiveCheckConfig {
            interval_ns: 10,
            timeout_ns: 10,
            healthy_threshold: 1,
            unhealthy_threshold: 1,
        };
        assert!(ok.validate().is_ok());
        let bad = [
            ActiveCheckConfig {
                interval_ns: 0,
                ..ok
            },
            ActiveCheckConfig {
                timeout_ns: 0,
                ..ok
            },
            ActiveCheckConfig {
                timeout_ns: 11,
                ..ok
            },
            ActiveCheckConfig {
                healthy_threshold: 0,
                ..ok
            },
            ActiveCheckConfig {
                unhealthy_threshold: 0,
                ..ok
            },
        ];
        for b in bad {
            assert!(ActiveHealth::new(b, 1).is_err(), "{b:?} accepted");
        }
        let p = PassiveConfig {
            consecutive_errors: 1,
            ejection_ns: 1,
            probation_successes: 1,
            max_ejection_percent: 100,
        };
        assert!(p.validate().is_ok());
        for b in [
            PassiveConfig {
                consecutive_errors: 0,
                ..p
            },
            PassiveConfig {
                ejection_ns: 0,
                ..p
            },
            PassiveConfig {
                probation_successes: 0,
                ..p
            },
            PassiveConfig {
                max_ejection_percent: 101,
                ..p
            },
        ] {
            assert!(PassiveHealth::new(b, 1).is_err(), "{b:?} accepted");
        }
        let hb = HeartbeatConfig {
            interval_ns: 10,
            timeout_ns: 10,
        };
        assert!(matches!(
            HeartbeatDetector::new(hb, 0),
            Err(HealthError::HeartbeatTimeoutTooShort { .. })
        ));
        // Messages say what to do.
        let msg = ActiveCheckConfig {
            timeout_ns: 11,
            ..ok
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("timeout_ns") && msg.contains("interval"),
            "{msg}"
        );
        // Serde: defaults and unknown-field rejection.
        let parsed: PassiveConfig =
            ron::from_str("(consecutive_errors: 5, ejection_ns: 30000000000)").unwrap();
        assert_eq!(parsed.probation_successes, 1);
        assert_eq!(parsed.max_ejection_percent, 100);
        assert!(
            ron::from_str::<PassiveConfig>("(consecutive_errors: 5, ejection_ns: 1, bogus: 1)")
                .is_err()
        );
    }

    fn passive(m: u32, p: u64, probation: u32, pct: u32, n: usize) -> PassiveHealth {
        PassiveHealth::new(
            PassiveConfig {
                consecutive_errors: m,
                ejection_ns: p,
                probation_successes: probation,
                max_ejection_percent: pct,
            },
            n,
        )
        .unwrap()
    }

    #[test]
    fn passive_ejects_after_m_consecutive_errors_and_readmits_after_period() {
        let mut h = passive(3, 1_000, 1, 100, 2);
        assert_eq!(h.on_failure(0, 1), None);
        assert_eq!(h.on_failure(0, 2), None);
        h.on_success(0, 3); // resets the run
        assert_eq!(h.on_failure(0, 4), None);
        assert_eq!(h.on_failure(0, 5), None);
        let tr = h.on_failure(0, 6).unwrap();
        assert_eq!((tr.to, tr.at_ns), (HealthStatus::Unhealthy, 6));
        assert!(!h.is_available(0) && h.is_available(1));
        // Late results while ejected are ignored.
        assert_eq!(h.on_failure(0, 7), None);
        h.on_success(0, 8);
        assert!(!h.is_available(0));
        assert_eq!(h.next_readmission_ns(), Some(1_006));
        let mut out = Vec::new();
        h.poll(1_005, &mut out);
        assert!(out.is_empty(), "re-admitted early");
        h.poll(1_006, &mut out);
        assert_eq!(
            out,
            vec![Transition {
                backend: 0,
                to: HealthStatus::Healthy,
                at_ns: 1_006
            }]
        );
        assert!(h.is_available(0) && h.in_probation(0));
        assert_eq!(h.next_readmission_ns(), None);
        // Probation: a single failure ejects again.
        let tr = h.on_failure(0, 1_010).unwrap();
        assert_eq!(tr.to, HealthStatus::Unhealthy);
        out.clear();
        h.poll(2_010, &mut out);
        assert_eq!(out.len(), 1);
        // A success ends probation: it takes m failures again.
        h.on_success(0, 2_011);
        assert!(!h.in_probation(0));
        assert_eq!(h.on_failure(0, 2_012), None);
        assert_eq!(h.on_failure(0, 2_013), None);
        assert!(h.on_failure(0, 2_014).is_some());
        assert_eq!(h.stats().ejections, 3);
        assert_eq!(h.stats().readmissions, 2);
        assert_eq!(h.on_failure(42, 0), None, "out of range ignored");
    }

    #[test]
    fn passive_probation_needs_the_configured_successes() {
        let mut h = passive(1, 10, 3, 100, 1);
        h.on_failure(0, 0).unwrap();
        let mut out = Vec::new();
        h.poll(10, &mut out);
        h.on_success(0, 11);
        h.on_success(0, 12);
        assert!(h.in_probation(0));
        assert!(
            h.on_failure(0, 13).is_some(),
            "failure during probation ejects"
        );
        h.poll(23, &mut out);
        for t in 24..27 {
            h.on_success(0, t);
        }
        assert!(!h.in_probation(0) && h.is_available(0));
    }

    #[test]
    fn passive_respects_max_ejection_percent() {
        // 10 backends, 20%: at most 2 ejected at once; the third is prevented.
        let mut h = passive(1, 100, 1, 20, 10);
        assert!(h.on_failure(0, 0).is_some());
        assert!(h.on_failure(1, 0).is_some());
        assert!(h.on_failure(2, 0).is_none());
        assert!(h.is_available(2));
        assert_eq!(h.stats().ejections_prevented, 1);
        assert_eq!(h.ejected_count(), 2);
        let mut out = Vec::new();
        h.poll(100, &mut out);
        assert_eq!(
            out.iter().map(|t| t.backend).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert!(h.on_failure(2, 101).is_some());
        // Shrinking drops the pending re-admission of a removed backend.
        h.resize(2);
        assert_eq!(h.ejected_count(), 0);
        h.resize(3);
        assert!(h.is_available(2));
        // 0%: still at least one backend may be ejected.
        let mut z = passive(1, 100, 1, 0, 10);
        assert!(z.on_failure(0, 0).is_some());
        assert!(z.on_failure(1, 0).is_none());
    }

    #[test]
    fn heartbeat_detection_time_lies_in_exact_bounds_and_never_suspects_a_live_peer() {
        // 10,000 seeds: heartbeats every i = 100 ms from a random phase, latency
        // either fixed d = 5 ms or uniform in [2, 8] ms; timeout τ = 250 ms
        // (> i + jitter). The standby checks at every deadline (as the
        // component's timer would). Detection with fixed latency is uniform on
        // [τ + d − i, τ + d): mean τ + d − i/2, sd i/√12; tolerance for the mean
        // over N = 10,000: 4 sd/√N = 0.0115·i.
        let cfg = HeartbeatConfig {
            interval_ns: 100 * MS,
            timeout_ns: 250 * MS,
        };
        let n = 10_000u64;
        for jitter in [false, true] {
            let (dmin, dmax) = if jitter {
                (2 * MS, 8 * MS)
            } else {
                (5 * MS, 5 * MS)
            };
            let lo = cfg.detection_bounds_ns(dmin).0;
            let hi = cfg.detection_bounds_ns(dmax).1;
            let mut sum = 0.0;
            for seed in 0..n {
                let mut rng = stream(seed, "heartbeat-timeline");
                let phase = rng.random_range(0..cfg.interval_ns);
                let crash = 30 * cfg.interval_ns + rng.random_range(0..cfg.interval_ns);
                let mut det = HeartbeatDetector::new(cfg, 0).unwrap();
                // Arrivals of heartbeats sent strictly before the crash.
                let mut arrivals = Vec::new();
                let mut s = phase;
                while s < crash {
                    arrivals.push(s + rng.random_range(dmin..=dmax));
                    s += cfg.interval_ns;
                }
                arrivals.sort_unstable();
                let mut suspected_at = None;
                for &a in &arrivals {
                    // The timer fires at the deadline if it comes before this arrival.
                    if det.deadline_ns() < a {
                        let at = det.deadline_ns();
                        assert_eq!(
                            det.check(at),
                            None,
                            "seed {seed}: live peer suspected at {at}"
                        );
                    }
                    det.on_heartbeat(a);
                }
                let deadline = det.deadline_ns();
                if det.check(deadline) == Some(PeerStatus::Suspected) {
                    suspected_at = Some(deadline);
                }
                let d = suspected_at.expect("crash not detected") - crash;
                assert!(
                    lo <= d && d < hi,
                    "seed {seed}: detection {d} not in [{lo}, {hi})"
                );
                sum += d as f64;
            }
            if !jitter {
                let mean = sum / n as f64;
                let theory = (cfg.timeout_ns + 5 * MS) as f64 - cfg.interval_ns as f64 / 2.0;
                let tol = 4.0 * cfg.interval_ns as f64 / (12.0 * n as f64).sqrt();
                eprintln!(
                    "heartbeat: mean detection {:.2} ms (theory {:.2} ms, tol {:.2} ms)",
                    mean / MS as f64,
                    theory / MS as f64,
                    tol / MS as f64
                );
                assert!((mean - theory).abs() < tol, "mean {mean} vs {theory}");
            }
        }
    }

    #[test]
    fn heartbeat_peer_that_returns_is_trusted_again() {
        let cfg = HeartbeatConfig {
            interval_ns: 10,
            timeout_ns: 25,
        };
        let mut det = HeartbeatDetector::new(cfg, 100).unwrap();
        assert_eq!(det.deadline_ns(), 125);
        assert_eq!(det.check(124), None);
        assert_eq!(det.check(125), Some(PeerStatus::Suspected));
        assert_eq!(det.check(126), None, "reported once");
        assert_eq!(det.on_heartbeat(130), Some(PeerStatus::Alive));
        assert_eq!(det.on_heartbeat(140), None);
        // A delayed (older) heartbeat never moves the deadline back.
        det.on_heartbeat(135);
        assert_eq!(det.deadline_ns(), 165);
    }
}
