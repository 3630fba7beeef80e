//! Single-leader replication (stub: to be implemented).

use super::{ClientOp, Io, PeerMsg, ReplicaPolicy, Role, SpecProblem, Value};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderSpec {}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftSpec {}

#[derive(Clone, Debug, PartialEq)]
pub enum LeaderMsg {}

impl LeaderMsg {
    pub fn size_bytes(&self) -> u32 {
        match *self {}
    }
}

impl LeaderSpec {
    pub fn validate(&self, _n: usize) -> Vec<SpecProblem> {
        Vec::new()
    }
}

impl RaftSpec {
    pub fn validate(&self, _n: usize) -> Vec<SpecProblem> {
        Vec::new()
    }
}

struct Stub;

impl ReplicaPolicy for Stub {
    fn on_start(&mut self, _io: &mut Io<'_>) {}
    fn on_client(&mut self, io: &mut Io<'_>, op: ClientOp) {
        io.reply(op.handle, super::Reply::Fail);
    }
    fn on_peer(&mut self, _io: &mut Io<'_>, _from: usize, _msg: PeerMsg) {}
    fn on_timer(&mut self, _io: &mut Io<'_>, _tag: u64) {}
    fn on_crash(&mut self) {}
    fn on_restart(&mut self, _io: &mut Io<'_>) {}
    fn values(&self, _key: u64) -> Vec<Value> {
        Vec::new()
    }
    fn keys(&self) -> Vec<u64> {
        Vec::new()
    }
    fn role(&self) -> Role {
        Role::Follower
    }
}

pub fn build_leader(_s: &LeaderSpec, _me: usize, _n: usize) -> Box<dyn ReplicaPolicy> {
    Box::new(Stub)
}

pub fn build_raft(_s: &RaftSpec, _me: usize, _n: usize) -> Box<dyn ReplicaPolicy> {
    Box::new(Stub)
}
