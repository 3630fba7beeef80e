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
    /// Virtual addresses of balancer pairs (lookup only): address node → (owner
    /// node, recorder index). One owner per address, by construction.
    pub vips: std::collections::BTreeMap<u32, (u32, usize)>,
    /// Pair member node → its virtual address.
    pub vip_member: std::collections::BTreeMap<u32, u32>,
}

impl SimWorld {
    /// The node that owns virtual address `vip` (the address itself if it is not one).
    pub fn vip_owner(&self, vip: u32) -> u32 {
        self.vips.get(&vip).map_or(vip, |v| v.0)
    }

    /// `node` takes virtual address `vip` over at `now` (gratuitous ARP): records
    /// the takeover time since the previous owner crashed (or a false takeover).
    pub fn claim_vip(&mut self, vip: u32, node: u32, now: SimTime) {
        let Some(&(prev, metric)) = self.vips.get(&vip) else {
            return;
        };
        if prev == node {
            return;
        }
        // The previous owner's latest state change.
        let crashed_at = self
            .node_events
            .iter()
            .rev()
            .find(|e| e.1 == prev)
            .and_then(|&(t, _, alive)| (!alive).then_some(t));
        if let Some(v) = self.rec.vips.get_mut(metric) {
            match crashed_at {
                Some(t) => v.takeover_ns.push(now.saturating_sub(t).as_ns()),
                None => v.false_takeovers += 1,
            }
        }
        self.vips.insert(vip, (node, metric));
    }
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
        now: SimTime,
        from: NodeId,
        to: NodeId,
        msg: &Msg,
        to_alive: bool,
    ) -> bool {
        if !to_alive
            && !self.vip_member.is_empty()
            && matches!(msg, Msg::Request(_))
            && let Some(vip) = self.vip_member.get(&to.0)
            && let Some(&(_, metric)) = self.vips.get(vip)
        {
            self.rec.vip_lost(metric, now);
        }
        self.net.deliverable(from, to, to_alive)
    }

    /// Requests to a pair's virtual address go to its current owner.
    #[inline]
    fn resolve(&self, to: NodeId, msg: &Msg) -> NodeId {
        if self.vips.is_empty() || !matches!(msg, Msg::Request(_)) {
            return to;
        }
        NodeId(self.vip_owner(to.0))
    }

    fn node_state_changed(&mut self, now: SimTime, node: NodeId, alive: bool) {
        self.node_events.push((now, node.0, alive));
    }
}

/// The context type components see.
pub type Ctx<'a> = crate::engine::Ctx<'a, Msg, SimWorld>;
