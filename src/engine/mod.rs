//! The discrete-event kernel: virtual time, the pending-event queue, per-component
//! RNG streams, the component trait and the context through which every effect goes.
//!
//! The engine knows nothing of clients, servers, networks or metrics: it is generic
//! over the message type `M` and a shared world `W` (which decides message transit
//! through [`World`]). Same-time events run in scheduling order, so a run is a pure
//! function of the components, the world and the seed.

mod queue;
mod time;

pub use queue::EventQueue;
pub use time::{NodeId, SimTime};

use crate::detrand::{self, SimRng};
use std::any::Any;

/// What the world decides about a message handed to the network.
pub enum Transit {
    /// Deliver at this absolute time.
    At(SimTime),
    /// The message is lost (loss, partition, no route). The world has counted it.
    Dropped,
}

/// The shared state of a simulation (network, metrics, histories) as seen by the engine.
pub trait World<M> {
    /// Decide when a message sent now from `from` to `to` arrives.
    fn transit(&mut self, now: SimTime, from: NodeId, to: NodeId, msg: &M) -> Transit;
    /// Called at delivery time: `false` drops the message (for example a partition
    /// that started while it was in flight, or a crashed destination).
    fn deliverable(
        &mut self,
        now: SimTime,
        from: NodeId,
        to: NodeId,
        msg: &M,
        to_alive: bool,
    ) -> bool;
    /// A node crashed or restarted (for timelines).
    fn node_state_changed(&mut self, _now: SimTime, _node: NodeId, _alive: bool) {}
    /// Address resolution at send time: the node a message addressed to `to`
    /// really goes to (a virtual address owned by another node). Default: `to`.
    #[inline]
    fn resolve(&self, to: NodeId, _msg: &M) -> NodeId {
        to
    }
}

/// A simulated component. It changes only its own state; every effect goes through `ctx`.
pub trait Component<M, W> {
    /// Called once at time zero, in node order.
    fn on_start(&mut self, _ctx: &mut Ctx<'_, M, W>) {}
    /// A message arrived.
    fn on_message(&mut self, ctx: &mut Ctx<'_, M, W>, from: NodeId, msg: M);
    /// A timer this component set (and that survived no crash) fired.
    fn on_timer(&mut self, _ctx: &mut Ctx<'_, M, W>, _tag: u64) {}
    /// The node crashed: drop volatile state and count what was lost. Timers set
    /// before the crash will not fire.
    fn on_crash(&mut self, _ctx: &mut Ctx<'_, M, W>) {}
    /// The node restarted after a crash.
    fn on_restart(&mut self, _ctx: &mut Ctx<'_, M, W>) {}
    /// The run ended: flush time-weighted statistics up to `ctx.now`.
    fn on_finish(&mut self, _ctx: &mut Ctx<'_, M, W>) {}
    /// For inspection after a run (final replica state and the like).
    fn as_any(&self) -> &dyn Any;
}

/// Engine-level commands a component may issue; applied after its handler returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Crash(NodeId),
    Restart(NodeId),
    Stop,
}

/// What a handler sees: the time, its own id and RNG stream, the world, and the
/// means to send messages, set timers and issue commands.
pub struct Ctx<'a, M, W> {
    pub now: SimTime,
    pub me: NodeId,
    pub rng: &'a mut SimRng,
    pub world: &'a mut W,
    queue: &'a mut EventQueue<M>,
    epoch: u32,
    commands: &'a mut Vec<Command>,
}

impl<M, W: World<M>> Ctx<'_, M, W> {
    /// Send `msg` to `to` over the simulated network.
    #[inline]
    pub fn send(&mut self, to: NodeId, msg: M) {
        let to = self.world.resolve(to, &msg);
        match self.world.transit(self.now, self.me, to, &msg) {
            Transit::At(t) => self.queue.push_message(t.max(self.now), to, self.me, msg),
            Transit::Dropped => {}
        }
    }

    /// Deliver `msg` to this same node after `delay` (no network involved).
    #[inline]
    pub fn send_self_after(&mut self, delay: SimTime, msg: M) {
        self.queue
            .push_message(self.now + delay, self.me, self.me, msg);
    }

    /// Fire `on_timer(tag)` after `delay`, unless the node crashes first.
    #[inline]
    pub fn set_timer(&mut self, delay: SimTime, tag: u64) {
        self.queue
            .push_timer(self.now + delay, self.me, tag, self.epoch);
    }

    /// Ask the engine to apply a command after this handler returns.
    pub fn command(&mut self, c: Command) {
        self.commands.push(c);
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// Reached the scenario's duration.
    Horizon,
    /// Hit the event limit before the horizon.
    EventLimit,
    /// No events left before the horizon.
    Idle,
    /// A component asked to stop.
    Stopped,
}

struct Slot<M, W> {
    component: Box<dyn Component<M, W>>,
    rng: SimRng,
    alive: bool,
    epoch: u32,
}

/// A simulation: components, their RNG streams, the world and the event queue.
pub struct Sim<M, W> {
    slots: Vec<Slot<M, W>>,
    pub world: W,
    queue: EventQueue<M>,
    now: SimTime,
    events: u64,
    seed: u64,
    commands: Vec<Command>,
}

impl<M, W: World<M>> Sim<M, W> {
    pub fn new(seed: u64, world: W) -> Self {
        Sim {
            slots: Vec::new(),
            world,
            queue: EventQueue::new(),
            now: SimTime::ZERO,
            events: 0,
            seed,
            commands: Vec::new(),
        }
    }

    /// Add a component; its RNG stream is derived from the run seed and `name`,
    /// so adding another component never changes this one's draws.
    pub fn add(&mut self, name: &str, component: Box<dyn Component<M, W>>) -> NodeId {
        let id = NodeId(self.slots.len() as u32);
        self.slots.push(Slot {
            component,
            rng: detrand::stream(self.seed, &format!("node:{name}")),
            alive: true,
            epoch: 0,
        });
        id
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn is_alive(&self, node: NodeId) -> bool {
        self.slots[node.index()].alive
    }

    pub fn component(&self, node: NodeId) -> &dyn Any {
        self.slots[node.index()].component.as_any()
    }

    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    fn with_ctx<R>(
        &mut self,
        node: NodeId,
        f: impl FnOnce(&mut dyn Component<M, W>, &mut Ctx<'_, M, W>) -> R,
    ) -> R {
        let slot = &mut self.slots[node.index()];
        let mut ctx = Ctx {
            now: self.now,
            me: node,
            rng: &mut slot.rng,
            world: &mut self.world,
            queue: &mut self.queue,
            epoch: slot.epoch,
            commands: &mut self.commands,
        };
        f(slot.component.as_mut(), &mut ctx)
    }

    /// Run until `horizon` (inclusive) or until `max_events` events have been processed.
    pub fn run(&mut self, horizon: SimTime, max_events: u64) -> RunEnd {
        if self.events == 0 && self.now == SimTime::ZERO {
            for i in 0..self.slots.len() {
                self.with_ctx(NodeId(i as u32), |c, ctx| c.on_start(ctx));
                if self.apply_commands() {
                    return RunEnd::Stopped;
                }
            }
        }
        let end = loop {
            let Some(time) = self.queue.peek_time() else {
                break RunEnd::Idle;
            };
            if time > horizon {
                break RunEnd::Horizon;
            }
            if self.events >= max_events {
                break RunEnd::EventLimit;
            }
            let Some((_, ev)) = self.queue.pop() else {
                break RunEnd::Idle;
            };
            self.now = time;
            self.events += 1;
            let target = ev.target;
            let ti = target.index();
            match ev.payload {
                queue::Payload::Message { from, msg } => {
                    let alive = self.slots[ti].alive;
                    if !self.world.deliverable(time, from, target, &msg, alive) {
                        continue;
                    }
                    self.with_ctx(target, |c, ctx| c.on_message(ctx, from, msg));
                }
                queue::Payload::Timer { tag, epoch } => {
                    let slot = &self.slots[ti];
                    if !slot.alive || slot.epoch != epoch {
                        continue;
                    }
                    self.with_ctx(target, |c, ctx| c.on_timer(ctx, tag));
                }
            }
            if !self.commands.is_empty() && self.apply_commands() {
                break RunEnd::Stopped;
            }
        };
        if end == RunEnd::Horizon || end == RunEnd::Idle {
            self.now = self.now.max(horizon);
        }
        end
    }

    /// Crash `node` now (as the fault timeline does).
    pub fn crash(&mut self, node: NodeId) {
        let slot = &mut self.slots[node.index()];
        if !slot.alive {
            return;
        }
        slot.alive = false;
        slot.epoch = slot.epoch.wrapping_add(1);
        self.world.node_state_changed(self.now, node, false);
        self.with_ctx(node, |c, ctx| c.on_crash(ctx));
    }

    /// Restart a crashed `node` now.
    pub fn restart(&mut self, node: NodeId) {
        let slot = &mut self.slots[node.index()];
        if slot.alive {
            return;
        }
        slot.alive = true;
        slot.epoch = slot.epoch.wrapping_add(1);
        self.world.node_state_changed(self.now, node, true);
        self.with_ctx(node, |c, ctx| c.on_restart(ctx));
    }

    /// Returns true if a Stop command was seen.
    fn apply_commands(&mut self) -> bool {
        let mut stop = false;
        while !self.commands.is_empty() {
            let cmds = std::mem::take(&mut self.commands);
            for c in cmds {
                match c {
                    Command::Crash(n) => self.crash(n),
                    Command::Restart(n) => self.restart(n),
                    Command::Stop => stop = true,
                }
            }
        }
        stop
    }

    /// Let every live component flush its statistics up to now.
    pub fn finish(&mut self) {
        for i in 0..self.slots.len() {
            self.with_ctx(NodeId(i as u32), |c, ctx| c.on_finish(ctx));
        }
    }
}

#[cfg(test)]
mod tests;
