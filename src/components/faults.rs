//! The fault timeline: a component that, at the scheduled times, partitions and
//! heals the network, crashes and restarts nodes, slows nodes and changes links.

use crate::engine::{Command, Component, NodeId};
use crate::scenario::validated::{FaultActionV, FaultV};
use crate::sim::msg::Msg;
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;

/// Replaces every `RandomCrashes` fault by the crashes and restarts of one
/// failure history: per node, alternating exponential up times (mean MTBF) and
/// down times (mean MTTR) from the fault's start, drawn from a stream derived
/// from the run seed, the fault and the node's name (so adding a node or a fault
/// does not change the others' histories). Nodes down at the fault's end (or the
/// run's `horizon`) are restarted there if the fault has an end. The result is
/// sorted by time, stably.
pub fn expand_random_crashes(
    faults: &[FaultV],
    seed: u64,
    horizon: crate::engine::SimTime,
    node_name: impl Fn(usize) -> String,
) -> Vec<FaultV> {
    use crate::engine::SimTime;
    use rand_distr::{Distribution, Exp1};
    let mut out = Vec::with_capacity(faults.len());
    for f in faults {
        let FaultActionV::RandomCrashes {
            nodes,
            mtbf_ns,
            mttr_ns,
            until,
            stream,
        } = &f.action
        else {
            out.push(f.clone());
            continue;
        };
        let end = until.unwrap_or(horizon).min(horizon);
        for &n in nodes {
            let mut rng = crate::detrand::stream(seed, &format!("{stream}:{}", node_name(n)));
            let mut t = f.at.as_ns() as f64;
            loop {
                let up: f64 = Exp1.sample(&mut rng);
                t += up * mtbf_ns;
                if t >= end.as_ns() as f64 {
                    break;
                }
                out.push(FaultV {
                    at: SimTime::from_ns_f64(t),
                    action: FaultActionV::Crash(n),
                });
                let down: f64 = Exp1.sample(&mut rng);
                t += down * mttr_ns;
                if t >= end.as_ns() as f64 {
                    if until.is_some() {
                        out.push(FaultV {
                            at: end,
                            action: FaultActionV::Restart(n),
                        });
                    }
                    break;
                }
                out.push(FaultV {
                    at: SimTime::from_ns_f64(t),
                    action: FaultActionV::Restart(n),
                });
            }
        }
    }
    out.sort_by_key(|f| f.at);
    out
}

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
            // Expanded into crashes and restarts by `expand_random_crashes`.
            FaultActionV::RandomCrashes { .. } => {}
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
