//! The closed set of messages simulated nodes exchange. `Debug` + `Clone`, so any
//! run can be traced; small and `Copy` where possible, so the hot path never allocates.

use crate::scenario::spec::OpSpec;

/// A request for work (from a client, or from a server calling downstream).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request {
    /// Chosen by the sender; echoed in the response. Unique per sender.
    pub id: u64,
    /// Request type (index into the scenario's classes).
    pub class: u16,
    pub op: OpSpec,
    pub key: u64,
    /// Value written (writes, cas new value).
    pub value: i64,
    /// Expected value for a compare-and-set (`i64::MIN` = nil).
    pub expected: i64,
    pub size_bytes: u32,
    pub response_bytes: u32,
    /// The client node that started the whole chain, and its session.
    pub client: u32,
    pub session: u64,
}

/// How a request ended, as seen by whoever asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Failed (a downstream error or timeout, an unavailable store …).
    Error,
    /// Refused at once by a full queue: back pressure, the "503".
    Rejected,
    /// Definitely not applied (a store refused it: no quorum, cas mismatch …).
    Fail,
}

/// The answer to a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Response {
    pub id: u64,
    pub status: Status,
    /// Value read (`None` = nil / not found).
    pub value: Option<i64>,
    pub size_bytes: u32,
    /// A store replica that is not the leader names the replica to try instead
    /// (`u32::MAX` = none).
    pub redirect: u32,
}

/// No redirect.
pub const NO_REDIRECT: u32 = u32::MAX;
/// Redirect without a known leader.
pub const REDIRECT_UNKNOWN: u32 = u32::MAX - 1;

/// Every message in a simulation.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Request(Request),
    Response(Response),
    /// A job put on a message queue.
    Job {
        id: u64,
        class: u16,
        size_bytes: u32,
    },
    /// The queue's answer: accepted, or refused because it was full.
    JobAck {
        id: u64,
        accepted: bool,
    },
    /// Replication traffic between replicas of a store.
    Peer(crate::components::store::PeerMsg),
    /// An active health check from a load balancer; servers answer at once.
    HealthCheck {
        id: u64,
    },
    /// The answer to a [`Msg::HealthCheck`].
    HealthReply {
        id: u64,
    },
    /// Push mode (CDN): a cache that acknowledged a write sends the new value to
    /// an edge cache, which stores it (fire and forget: no answer, no retry).
    CachePush {
        key: u64,
        value: i64,
        size_bytes: u32,
        /// The pusher's ack order: an edge ignores a push older than one it
        /// already applied for the key.
        version: u64,
    },
    /// From the active member of a balancer pair to the standby.
    Heartbeat,
    /// A client asks a DNS node for its record.
    DnsQuery {
        id: u64,
    },
    /// The record's addresses (node ids) and how long to cache them.
    DnsAnswer {
        id: u64,
        addresses: Vec<u32>,
        ttl_ns: u64,
    },
    /// Between the members of a balancer pair with `sync_sessions`: sticky
    /// session pins (session, backend index), pushed by the member that made
    /// them (one per new pin; the whole table when the peer asks for it).
    SessionPins(Vec<(u64, u32)>),
    /// A pair member back from a crash asks its peer for the whole session table.
    SessionResync,
}

impl Msg {
    /// Size on the wire, for bandwidth.
    #[inline]
    pub fn size_bytes(&self) -> u32 {
        match self {
            Msg::Request(r) => r.size_bytes,
            Msg::Response(r) => r.size_bytes,
            Msg::Job { size_bytes, .. } => *size_bytes,
            Msg::JobAck { .. } => 64,
            Msg::Peer(p) => p.size_bytes(),
            Msg::HealthCheck { .. } | Msg::HealthReply { .. } => 64,
            Msg::CachePush { size_bytes, .. } => *size_bytes,
            Msg::Heartbeat | Msg::DnsQuery { .. } => 64,
            Msg::DnsAnswer { addresses, .. } => 64 + 16 * addresses.len() as u32,
            Msg::SessionPins(p) => 64 + 16 * p.len() as u32,
            Msg::SessionResync => 64,
        }
    }
}
