//! The shared world of a run: the network, the recorder and node speed factors.
//! Components reach it through `ctx.world`.

use super::msg::Msg;
use crate::components::network::Network;
use crate::engine::{NodeId, SimTime, Transit, World};
use crate::metrics::Recorder;

pub struct SimWorld {
    pub net: Network,
    pub rec: Recorder,
    /// Service-time multiplier per node (the `Slow` fault).
    pub slow: Vec<f64>,
    /// (time, node, alive) for timelines.
    pub node_events: Vec<(SimTime, u32, bool)>,
    /// (time, store, replica, event, term) from replication policies.
    pub store_events: Vec<(SimTime, u32, u32, crate::components::store::StoreEvent, u64)>,
    /// Every client operation on a store, completed or given up.
    pub history: Vec<HistRecord>,
    /// Per (origin node, key): the last write value a cache acknowledged, for
    /// caches' stale-read detection.
    pub cache_latest: std::collections::BTreeMap<(u32, u64), i64>,
}

/// One client operation on a store, for the consistency checkers.
#[derive(Clone, Copy, Debug)]
pub struct HistRecord {
    pub id: u64,
    pub process: u64,
    pub session: u64,
    pub store: u32,
    pub op: crate::scenario::spec::OpSpec,
    pub key: u64,
    pub value: i64,
    pub expected: Option<i64>,
    pub read: Option<i64>,
    pub invoke: SimTime,
    pub complete: SimTime,
    /// 0 ok, 1 fail (not applied), 2 indeterminate.
    pub outcome: u8,
}

impl World<Msg> for SimWorld {
    #[inline]
    fn transit(&mut self, now: SimTime, from: NodeId, to: NodeId, msg: &Msg) -> Transit {
        self.net.transit(now, from, to, msg.size_bytes())
    }

    #[inline]
    fn deliverable(
        &mut self,
        _now: SimTime,
        from: NodeId,
        to: NodeId,
        _msg: &Msg,
        to_alive: bool,
    ) -> bool {
        self.net.deliverable(from, to, to_alive)
    }

    fn node_state_changed(&mut self, now: SimTime, node: NodeId, alive: bool) {
        self.node_events.push((now, node.0, alive));
    }
}

/// The context type components see.
pub type Ctx<'a> = crate::engine::Ctx<'a, Msg, SimWorld>;
