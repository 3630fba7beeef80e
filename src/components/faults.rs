//! The fault timeline: a component that, at the scheduled times, partitions and
//! heals the network, crashes and restarts nodes, slows nodes and changes links.

use crate::engine::{Command, Component, NodeId};
use crate::scenario::validated::{FaultActionV, FaultV};
use crate::sim::msg::Msg;
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;

pub struct FaultInjector {
    faults: Vec<FaultV>,
}

impl FaultInjector {
    pub fn new(faults: Vec<FaultV>) -> Self {
        FaultInjector { faults }
    }
}

impl Component<Msg, SimWorld> for FaultInjector {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        for (i, f) in self.faults.iter().enumerate() {
            ctx.set_timer(f.at, i as u64);
        }
    }

    fn on_message(&mut self, _ctx: &mut Ctx<'_>, _from: NodeId, _msg: Msg) {}

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        let Some(f) = self.faults.get(tag as usize) else {
            return;
        };
        match &f.action {
            FaultActionV::Partition { groups } => ctx.world.net.partition(groups),
            FaultActionV::PartitionOneWay { from, to } => ctx.world.net.partition_one_way(from, to),
            FaultActionV::Heal => ctx.world.net.heal(),
            FaultActionV::Crash(n) => ctx.command(Command::Crash(NodeId(*n as u32))),
            FaultActionV::Restart(n) => ctx.command(Command::Restart(NodeId(*n as u32))),
            FaultActionV::Slow { node, factor } => {
                if let Some(s) = ctx.world.slow.get_mut(*node) {
                    *s = *factor;
                }
            }
            FaultActionV::LinkLatency { link, latency } => {
                ctx.world.net.set_latency(*link, latency.clone())
            }
            FaultActionV::LinkLoss { link, loss } => ctx.world.net.set_loss(*link, *loss),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
