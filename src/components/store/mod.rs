//! A replicated key-value store. Each replica is an ordinary node on the simulated
//! network (so partitions, latency, loss, crashes and slow nodes act on replication
//! traffic). The replication policy is a pure state machine behind
//! [`ReplicaPolicy`]: it reacts to client operations, peer messages and timers and
//! emits actions through [`Io`]; the [`replica`] component adapts it to the engine.
//!
//! Policies: [`leader`] (single leader sync / semi-sync / async, heartbeat failover
//! with or without fencing, and a Raft-style CP reference design), [`leaderless`]
//! (Dynamo-style N/R/W quorums with read repair, anti-entropy, sloppy quorum and
//! hinted handoff) and [`multileader`] (every replica accepts writes; LWW on skewed
//! clocks or version-vector siblings).

pub mod leader;
pub mod leaderless;
pub mod multileader;
pub mod replica;

use crate::detrand::SimRng;
use crate::engine::SimTime;
use crate::scenario::spec::OpSpec;
use serde::Deserialize;

/// A register value. Simulated writes carry globally unique values.
pub type Value = i64;

/// A client operation as it arrives at a replica.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientOp {
    /// Opaque handle the replica passes back in [`Io::reply`] (identifies client + request).
    pub handle: u64,
    pub op: OpSpec,
    pub key: u64,
    /// Write: value written. Cas: new value.
    pub value: Value,
    /// Cas: expected current value (`None` = nil, never written).
    pub expected: Option<Value>,
}

/// A replica's answer to a client operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Done. Reads carry the value read (`None` = nil). A Cas that did not match
    /// is `Fail`, not `Ok`.
    Ok(Option<Value>),
    /// Definitely not applied (refused: no quorum reachable before doing anything,
    /// cas mismatch, read-only replica …).
    Fail,
    /// May or may not have been applied (e.g. replicated to some but acknowledgements
    /// did not arrive in time). Recorded as indeterminate in the history.
    Unknown,
    /// Not the leader: the client should retry at replica `leader` (if known).
    Redirect(Option<usize>),
}

/// Something worth putting on the timeline or counting.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreEvent {
    /// This replica became leader for `term`.
    BecameLeader { term: u64 },
    /// This replica stopped being leader.
    SteppedDown { term: u64 },
    /// A write conflict was detected and resolved (LWW) or kept (siblings).
    Conflict { key: u64, kept_siblings: bool },
    /// A hinted-handoff hint was stored for an unreachable replica.
    HintStored,
    /// A read repair was sent.
    ReadRepair,
    /// A log entry writing `value` to `key` was discarded because it conflicted
    /// with the current leader's log (the write is undone on this replica).
    RolledBack { key: u64, value: Value },
}

/// One replica's leadership: from becoming leader (winning an election or being
/// appointed) until it steps down, crashes or the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leadership {
    pub replica: usize,
    pub term: u64,
    pub from_ns: u64,
    pub to_ns: u64,
}

/// Leadership spans of one replica group from its timeline events
/// `(time ns, replica, event)` in time order; spans still open at `end_ns` end
/// there. Sorted by start, then replica.
pub fn leadership_spans<'a>(
    events: impl IntoIterator<Item = (u64, usize, &'a StoreEvent)>,
    end_ns: u64,
) -> Vec<Leadership> {
    let mut open: std::collections::BTreeMap<usize, (u64, u64)> = Default::default();
    let mut out = Vec::new();
    for (t, r, e) in events {
        match e {
            StoreEvent::BecameLeader { term } => {
                if let Some((from, old)) = open.insert(r, (t, *term)) {
                    out.push(Leadership {
                        replica: r,
                        term: old,
                        from_ns: from,
                        to_ns: t,
                    });
                }
            }
            StoreEvent::SteppedDown { .. } => {
                if let Some((from, term)) = open.remove(&r) {
                    out.push(Leadership {
                        replica: r,
                        term,
                        from_ns: from,
                        to_ns: t,
                    });
                }
            }
            _ => {}
        }
    }
    for (r, (from, term)) in open {
        out.push(Leadership {
            replica: r,
            term,
            from_ns: from,
            to_ns: end_ns.max(from),
        });
    }
    out.sort_by_key(|s| (s.from_ns, s.replica, s.to_ns));
    out
}

/// Periods `(from, to, leaders)` during which two or more spans overlap, with the
/// replicas leading then (ascending). Adjacent periods with the same leaders merge.
pub fn overlapping_leaders(spans: &[Leadership]) -> Vec<(u64, u64, Vec<usize>)> {
    // Sweep over span ends (before starts at the same instant: a hand-over at
    // one instant is not an overlap).
    let mut pts: Vec<(u64, bool, usize)> = Vec::new();
    for s in spans.iter().filter(|s| s.to_ns > s.from_ns) {
        pts.push((s.from_ns, true, s.replica));
        pts.push((s.to_ns, false, s.replica));
    }
    pts.sort_unstable();
    let mut active: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut out: Vec<(u64, u64, Vec<usize>)> = Vec::new();
    let mut i = 0;
    let mut last_t = 0;
    while i < pts.len() {
        let t = pts[i].0;
        if active.len() >= 2 && t > last_t {
            let who: Vec<usize> = active.keys().copied().collect();
            match out.last_mut() {
                Some(p) if p.1 == last_t && p.2 == who => p.1 = t,
                _ => out.push((last_t, t, who)),
            }
        }
        while i < pts.len() && pts[i].0 == t {
            let (_, start, r) = pts[i];
            if start {
                *active.entry(r).or_insert(0) += 1;
            } else if let Some(c) = active.get_mut(&r) {
                *c -= 1;
                if *c == 0 {
                    active.remove(&r);
                }
            }
            i += 1;
        }
        last_t = t;
    }
    out
}

/// What a policy asks for; applied by the replica component after the handler.
#[derive(Clone, Debug)]
pub enum Action {
    Reply { handle: u64, reply: Reply },
    Send { to: usize, msg: PeerMsg },
    Timer { delay: SimTime, tag: u64 },
    Event(StoreEvent),
}

/// The world as a policy sees it. Policies never touch the engine directly.
pub struct Io<'a> {
    /// True time (for timers and metrics only).
    pub now: SimTime,
    /// This replica's index, 0..n.
    pub me: usize,
    /// Number of replicas in the group.
    pub n: usize,
    /// This replica's random stream.
    pub rng: &'a mut SimRng,
    /// This replica's clock offset (ns) from true time: LWW timestamps use
    /// [`Io::local_clock_ns`], never `now`.
    pub clock_skew_ns: i64,
    pub actions: &'a mut Vec<Action>,
}

impl Io<'_> {
    pub fn reply(&mut self, handle: u64, reply: Reply) {
        self.actions.push(Action::Reply { handle, reply });
    }
    pub fn send(&mut self, to: usize, msg: PeerMsg) {
        if to != self.me {
            self.actions.push(Action::Send { to, msg });
        }
    }
    /// Send to every other replica.
    pub fn broadcast(&mut self, msg: PeerMsg) {
        for r in 0..self.n {
            if r != self.me {
                self.actions.push(Action::Send {
                    to: r,
                    msg: msg.clone(),
                });
            }
        }
    }
    pub fn timer(&mut self, delay: SimTime, tag: u64) {
        self.actions.push(Action::Timer { delay, tag });
    }
    pub fn event(&mut self, e: StoreEvent) {
        self.actions.push(Action::Event(e));
    }
    /// This node's (possibly skewed) wall clock, ns.
    pub fn local_clock_ns(&self) -> i64 {
        self.now.as_ns() as i64 + self.clock_skew_ns
    }
}

/// Role of a replica, for timelines and client routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    /// Leaderless and multi-leader replicas.
    Peer,
}

/// A replication policy at one replica: a pure state machine.
pub trait ReplicaPolicy {
    fn on_start(&mut self, io: &mut Io<'_>);
    fn on_client(&mut self, io: &mut Io<'_>, op: ClientOp);
    fn on_peer(&mut self, io: &mut Io<'_>, from: usize, msg: PeerMsg);
    fn on_timer(&mut self, io: &mut Io<'_>, tag: u64);
    /// The node crashed: lose volatile state (what the policy keeps on "disk" —
    /// e.g. a Raft log, current term, vote — survives). Timers are cancelled by the engine.
    fn on_crash(&mut self);
    /// The node restarted (set timers again).
    fn on_restart(&mut self, io: &mut Io<'_>);
    /// Values this replica holds for `key` (several = siblings), sorted.
    fn values(&self, key: u64) -> Vec<Value>;
    /// Keys this replica holds, ascending.
    fn keys(&self) -> Vec<u64>;
    /// Is this replica meant to hold `key`? False for keys outside its share with
    /// partial replication (leaderless stores with more replicas than `n`); such a
    /// replica holding nothing for the key is not divergence.
    fn responsible(&self, _key: u64) -> bool {
        true
    }
    fn role(&self) -> Role;
    /// Current term/epoch (0 where meaningless).
    fn term(&self) -> u64 {
        0
    }
}

/// Replication traffic. One variant per policy family; each family's file owns its type.
#[derive(Clone, Debug, PartialEq)]
pub enum PeerMsg {
    Leader(leader::LeaderMsg),
    Quorum(leaderless::QuorumMsg),
    Multi(multileader::MultiMsg),
}

impl PeerMsg {
    /// Size on the wire (for bandwidth).
    pub fn size_bytes(&self) -> u32 {
        match self {
            PeerMsg::Leader(m) => m.size_bytes(),
            PeerMsg::Quorum(m) => m.size_bytes(),
            PeerMsg::Multi(m) => m.size_bytes(),
        }
    }
}

/// The policy as written in a scenario (`policy:` of a `Store`).
#[derive(Clone, Debug, Deserialize)]
pub enum PolicySpec {
    /// Single leader (sync, semi-sync or async), optional heartbeat failover.
    Leader(leader::LeaderSpec),
    /// Raft-style majority replication with elections (the CP reference design).
    Raft(leader::RaftSpec),
    /// Dynamo-style N/R/W quorums.
    Leaderless(leaderless::QuorumSpec),
    /// Every replica accepts writes; asynchronous replication.
    MultiLeader(multileader::MultiSpec),
}

/// A problem in a policy spec: (field path relative to `policy`, message, hint).
pub type SpecProblem = (String, String, String);

impl PolicySpec {
    /// Check parameters against the group size `n`.
    pub fn validate(&self, n: usize) -> Vec<SpecProblem> {
        match self {
            PolicySpec::Leader(s) => s.validate(n),
            PolicySpec::Raft(s) => s.validate(n),
            PolicySpec::Leaderless(s) => s.validate(n),
            PolicySpec::MultiLeader(s) => s.validate(n),
        }
    }

    /// The policy for replica `me` of `n`.
    pub fn build(&self, me: usize, n: usize) -> Box<dyn ReplicaPolicy> {
        match self {
            PolicySpec::Leader(s) => leader::build_leader(s, me, n),
            PolicySpec::Raft(s) => leader::build_raft(s, me, n),
            PolicySpec::Leaderless(s) => leaderless::build(s, me, n),
            PolicySpec::MultiLeader(s) => multileader::build(s, me, n),
        }
    }

    /// Can two replicas that both believe they lead (a deposed leader that has
    /// not heard of the new term) both acknowledge writes, i.e. is an overlap of
    /// leadership spans split brain? Not for Raft (a leader acknowledges only
    /// what a majority stored), a fenced leader (its lease lapses before anyone
    /// else can be elected) or a leader that waits for enough followers to make a
    /// majority; yes for an unfenced failover leader acknowledging alone or with
    /// fewer followers than a majority needs.
    pub fn overlap_is_split_brain(&self, n: usize) -> bool {
        match self {
            PolicySpec::Leader(s) => {
                let fenced = matches!(
                    s.failover,
                    leader::Failover::Heartbeat { fencing: true, .. }
                );
                let k = match &s.mode {
                    leader::LeaderMode::Sync => n.saturating_sub(1),
                    leader::LeaderMode::SemiSync(k) => *k,
                    leader::LeaderMode::Async { .. } => 0,
                };
                !fenced && k + 1 < n / 2 + 1
            }
            PolicySpec::Raft(_) | PolicySpec::Leaderless(_) | PolicySpec::MultiLeader(_) => false,
        }
    }

    /// Where clients should send operations by default.
    pub fn default_route(&self) -> Route {
        match self {
            PolicySpec::Leader(_) | PolicySpec::Raft(_) => Route::Leader,
            PolicySpec::Leaderless(_) | PolicySpec::MultiLeader(_) => Route::Nearest,
        }
    }
}

/// How a client picks the replica for an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Route {
    /// The replica the client believes is leader (following redirects).
    Leader,
    /// A uniformly random replica per operation.
    Random,
    /// The replica with the lowest mean link latency from the client.
    #[default]
    Nearest,
    /// Always replica `i` (0-based).
    Replica(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn became(term: u64) -> StoreEvent {
        StoreEvent::BecameLeader { term }
    }
    fn down(term: u64) -> StoreEvent {
        StoreEvent::SteppedDown { term }
    }

    #[test]
    fn leadership_spans_run_from_winning_to_stepping_down_crashing_or_the_end() {
        let ev = [
            (0, 2, became(1)),  // appointed at start
            (5, 0, down(0)),    // a crash of a non-leader closes nothing
            (20, 1, became(2)), // elected while 2 still believes it leads
            (30, 1, StoreEvent::HintStored),
            (40, 2, down(1)),   // the old leader hears of term 2
            (50, 1, down(2)),   // crash of the leader
            (60, 0, became(3)), // a new leader, still leading at the end
            (70, 0, became(4)), // re-elected without a step-down: a new span
        ];
        let spans = leadership_spans(ev.iter().map(|(t, r, e)| (*t, *r, e)), 100);
        let got: Vec<(usize, u64, u64, u64)> = spans
            .iter()
            .map(|s| (s.replica, s.term, s.from_ns, s.to_ns))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, 1, 0, 40),
                (1, 2, 20, 50),
                (0, 3, 60, 70),
                (0, 4, 70, 100)
            ]
        );
        // Two leaders from 20 to 40; the hand-over at 70 is not an overlap.
        assert_eq!(overlapping_leaders(&spans), vec![(20, 40, vec![1, 2])]);
    }

    #[test]
    fn overlaps_list_who_leads_and_merge_only_identical_sets() {
        let s = |replica, from_ns, to_ns| Leadership {
            replica,
            term: 1,
            from_ns,
            to_ns,
        };
        // 0 leads 0–100; 1 leads 10–50; 2 leads 30–60.
        let spans = [s(0, 0, 100), s(1, 10, 50), s(2, 30, 60)];
        assert_eq!(
            overlapping_leaders(&spans),
            vec![
                (10, 30, vec![0, 1]),
                (30, 50, vec![0, 1, 2]),
                (50, 60, vec![0, 2])
            ]
        );
        // Back-to-back hand-overs and empty spans: no overlap.
        let spans = [s(0, 0, 10), s(1, 10, 20), s(2, 15, 15)];
        assert!(overlapping_leaders(&spans).is_empty());
    }

    #[test]
    fn only_leaders_that_acknowledge_alone_make_overlaps_split_brain() {
        let opts = ron::Options::default().with_default_extension(
            ron::extensions::Extensions::IMPLICIT_SOME
                | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
        );
        let parse = |t: &str| -> PolicySpec { opts.from_str(t).expect(t) };
        let hb = |f: bool| {
            format!("failover: Heartbeat(interval_ms: 50.0, timeout_ms: 300.0, fencing: {f})")
        };
        let naive = parse(&format!("Leader(mode: Async(), {})", hb(false)));
        let fenced = parse(&format!("Leader(mode: Async(), {})", hb(true)));
        let semi1 = parse(&format!("Leader(mode: SemiSync(1), {})", hb(false)));
        let sync = parse(&format!("Leader(mode: Sync, {})", hb(false)));
        assert!(naive.overlap_is_split_brain(3));
        assert!(!fenced.overlap_is_split_brain(3));
        // SemiSync(1): leader + 1 follower is a majority of 3, not of 5.
        assert!(!semi1.overlap_is_split_brain(3));
        assert!(semi1.overlap_is_split_brain(5));
        assert!(!sync.overlap_is_split_brain(5));
        assert!(!parse("Raft()").overlap_is_split_brain(3));
        assert!(!parse("Leaderless(r: 1, w: 1)").overlap_is_split_brain(3));
    }
}
