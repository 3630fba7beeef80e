//! The replica component: owns one replica's [`ReplicaPolicy`], turns client
//! requests and peer messages into policy calls, and applies the actions the
//! policy emits (replies, peer sends, timers, timeline events).

use super::{Action, ClientOp, Io, PeerMsg, ReplicaPolicy, Reply, Role, StoreEvent};
use crate::detrand::FastMap;
use crate::engine::{Component, NodeId, SimTime};
use crate::sim::msg::{Msg, NO_REDIRECT, REDIRECT_UNKNOWN, Response, Status};
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;

pub struct Replica {
    policy: Box<dyn ReplicaPolicy>,
    pub store: usize,
    pub index: usize,
    /// Node ids of the group's replicas, by replica index.
    peers: Vec<NodeId>,
    skew_ns: i64,
    /// handle → (client node, request id, response bytes)
    pending: FastMap<u64, (NodeId, u64, u32)>,
    next_handle: u64,
    actions: Vec<Action>,
}

impl Replica {
    pub fn new(
        policy: Box<dyn ReplicaPolicy>,
        store: usize,
        index: usize,
        peers: Vec<NodeId>,
        skew_ns: i64,
    ) -> Self {
        Replica {
            policy,
            store,
            index,
            peers,
            skew_ns,
            pending: FastMap::default(),
            next_handle: 0,
            actions: Vec::new(),
        }
    }

    pub fn policy(&self) -> &dyn ReplicaPolicy {
        self.policy.as_ref()
    }

    fn io<'a>(
        now: SimTime,
        me: usize,
        n: usize,
        skew: i64,
        rng: &'a mut crate::detrand::SimRng,
        actions: &'a mut Vec<Action>,
    ) -> Io<'a> {
        Io {
            now,
            me,
            n,
            rng,
            clock_skew_ns: skew,
            actions,
        }
    }

    fn with_policy(
        &mut self,
        ctx: &mut Ctx<'_>,
        f: impl FnOnce(&mut dyn ReplicaPolicy, &mut Io<'_>),
    ) {
        let mut actions = std::mem::take(&mut self.actions);
        {
            let mut io = Self::io(
                ctx.now,
                self.index,
                self.peers.len(),
                self.skew_ns,
                ctx.rng,
                &mut actions,
            );
            f(self.policy.as_mut(), &mut io);
        }
        let role_before = self.policy.role();
        let _ = role_before;
        for a in actions.drain(..) {
            match a {
                Action::Reply { handle, reply } => {
                    if let Some((to, id, bytes)) = self.pending.remove(&handle) {
                        let (status, value, redirect) = match reply {
                            Reply::Ok(v) => (Status::Ok, v, NO_REDIRECT),
                            Reply::Fail => (Status::Fail, None, NO_REDIRECT),
                            Reply::Unknown => (Status::Error, None, NO_REDIRECT),
                            Reply::Redirect(Some(i)) => (Status::Fail, None, i as u32),
                            Reply::Redirect(None) => (Status::Fail, None, REDIRECT_UNKNOWN),
                        };
                        ctx.send(
                            to,
                            Msg::Response(Response {
                                id,
                                status,
                                value,
                                size_bytes: bytes,
                                redirect,
                            }),
                        );
                    }
                }
                Action::Send { to, msg } => {
                    if let Some(&node) = self.peers.get(to) {
                        ctx.send(node, Msg::Peer(msg));
                    }
                }
                Action::Timer { delay, tag } => ctx.set_timer(delay, tag),
                Action::Event(e) => {
                    let term = self.policy.term();
                    ctx.world.store_events.push((
                        ctx.now,
                        self.store as u32,
                        self.index as u32,
                        e,
                        term,
                    ));
                }
            }
        }
        self.actions = actions;
    }
}

impl Component<Msg, SimWorld> for Replica {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.with_policy(ctx, |p, io| p.on_start(io));
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request(r) => {
                self.next_handle += 1;
                let handle = self.next_handle;
                self.pending.insert(handle, (from, r.id, r.response_bytes));
                let op = ClientOp {
                    handle,
                    op: r.op,
                    key: r.key,
                    value: r.value,
                    expected: (r.expected != i64::MIN).then_some(r.expected),
                };
                self.with_policy(ctx, |p, io| p.on_client(io, op));
            }
            Msg::Peer(m) => {
                if let Some(i) = self.peers.iter().position(|&p| p == from) {
                    self.with_policy(ctx, |p, io| p.on_peer(io, i, m));
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        self.with_policy(ctx, |p, io| p.on_timer(io, tag));
    }

    fn on_crash(&mut self, ctx: &mut Ctx<'_>) {
        self.policy.on_crash();
        self.pending.clear();
        if self.policy.role() != Role::Leader {
            // A crashed leader is no longer leader for timelines.
        }
        ctx.world.store_events.push((
            ctx.now,
            self.store as u32,
            self.index as u32,
            StoreEvent::SteppedDown {
                term: self.policy.term(),
            },
            self.policy.term(),
        ));
    }

    fn on_restart(&mut self, ctx: &mut Ctx<'_>) {
        self.with_policy(ctx, |p, io| p.on_restart(io));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Placeholder so unused-import lints stay quiet when policies are stubs.
#[allow(dead_code)]
fn _uses(_: PeerMsg) {}
