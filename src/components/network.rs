//! The simulated network: links with latency distributions, loss and bandwidth
//! (FIFO transfer per direction), shortest-path routing over the petgraph
//! topology, and partitions (two-way and one-way). It decides when a message
//! arrives or that it is lost; it never delivers anything itself.

use crate::detrand::{self, SimRng};
use crate::engine::{NodeId, SimTime, Transit};
use crate::scenario::validated::{LinkProps, LinkV};
use petgraph::graph::{NodeIndex, UnGraph};
use rand::Rng;

struct LinkState {
    from: usize,
    to: usize,
    one_way: bool,
    props: LinkProps,
    /// Transmitter free again, per direction (0: from→to, 1: to→from).
    busy_until: [SimTime; 2],
    rng: SimRng,
}

/// Why messages were lost.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct NetCounters {
    pub sent: u64,
    pub lost_loss: u64,
    pub lost_partition: u64,
    pub lost_dead_node: u64,
    pub lost_no_route: u64,
}

pub struct Network {
    n: usize,
    links: Vec<LinkState>,
    graph: UnGraph<(), usize>,
    /// Route cache per (from, to): `None` = not computed yet, `Some(None)` = no
    /// route, `Some(Some((start, len)))` = hops in `hops[start..start+len]`.
    routes: Vec<Option<Option<(u32, u32)>>>,
    /// (link index, direction) of every cached route, concatenated.
    hops: Vec<(u32, u8)>,
    default: Option<(LinkProps, SimRng)>,
    blocked: Vec<bool>,
    /// Nodes that never forward traffic (clients): routes may start or end there
    /// but never pass through.
    endpoint_only: Vec<bool>,
    pub counters: NetCounters,
    pub partitioned: bool,
}

impl Network {
    pub fn new(seed: u64, n: usize, links: &[LinkV], default: Option<&LinkProps>) -> Self {
        let mut graph = UnGraph::<(), usize>::with_capacity(n, links.len());
        for _ in 0..n {
            graph.add_node(());
        }
        let mut states = Vec::with_capacity(links.len());
        for (i, l) in links.iter().enumerate() {
            graph.add_edge(NodeIndex::new(l.from), NodeIndex::new(l.to), i);
            states.push(LinkState {
                from: l.from,
                to: l.to,
                one_way: l.one_way,
                props: l.props.clone(),
                busy_until: [SimTime::ZERO; 2],
                rng: detrand::stream(seed, &format!("link:{i}")),
            });
        }
        Network {
            n,
            links: states,
            graph,
            routes: vec![None; n * n],
            hops: Vec::new(),
            default: default.map(|d| (d.clone(), detrand::stream(seed, "link:default"))),
            blocked: vec![false; n * n],
            endpoint_only: vec![false; n],
            counters: NetCounters::default(),
            partitioned: false,
        }
    }

    /// Mark nodes that must not relay traffic (clients). Routes are computed lazily,
    /// so call this before the first message.
    pub fn with_endpoints_only(mut self, endpoint_only: Vec<bool>) -> Self {
        self.endpoint_only = endpoint_only;
        self.endpoint_only.resize(self.n, false);
        self.routes.iter_mut().for_each(|r| *r = None);
        self.hops.clear();
        self
    }

    fn route(&mut self, from: usize, to: usize) -> Option<(u32, u32)> {
        let k = from * self.n + to;
        if let Some(r) = self.routes[k] {
            return r;
        }
        // Dijkstra on mean latency (+1 ns per hop so fewer hops win ties), honouring direction.
        let weights: Vec<f64> = self
            .links
            .iter()
            .map(|l| l.props.latency.mean_ns() + 1.0)
            .collect();
        let links = &self.links;
        let endpoint_only = &self.endpoint_only;
        // An edge touching an endpoint-only node other than `from` and `to` could
        // only be used to pass through it: make it unusable.
        let relay_ok = |x: usize| x == from || x == to || !endpoint_only[x];
        let res = petgraph::algo::astar(
            &self.graph,
            NodeIndex::new(from),
            |n| n.index() == to,
            |e| {
                use petgraph::visit::EdgeRef;
                if relay_ok(e.source().index()) && relay_ok(e.target().index()) {
                    weights[*e.weight()]
                } else {
                    f64::INFINITY
                }
            },
            |_| 0.0,
        );
        let res = res.filter(|(cost, _)| cost.is_finite());
        let hops = res.and_then(|(_, path)| {
            let mut hops = Vec::with_capacity(path.len().saturating_sub(1));
            for w in path.windows(2) {
                let (a, b) = (w[0].index(), w[1].index());
                // Pick the cheapest usable link between a and b in this direction.
                let best = links
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| {
                        (l.from == a && l.to == b) || (!l.one_way && l.from == b && l.to == a)
                    })
                    .min_by(|x, y| weights[x.0].total_cmp(&weights[y.0]).then(x.0.cmp(&y.0)))?;
                hops.push((best.0 as u32, u8::from(best.1.from != a)));
            }
            Some(hops)
        });
        // A one-way link may have been used against its direction by the undirected
        // search; such a route is unusable.
        let hops = hops.filter(|h| {
            h.iter()
                .all(|&(li, d)| !(self.links[li as usize].one_way && d == 1))
        });
        let r = hops.map(|h| {
            let start = self.hops.len() as u32;
            self.hops.extend_from_slice(&h);
            (start, h.len() as u32)
        });
        self.routes[k] = Some(r);
        r
    }

    /// When does a message of `size` bytes sent now arrive?
    #[inline]
    pub fn transit(&mut self, now: SimTime, from: NodeId, to: NodeId, size: u32) -> Transit {
        self.counters.sent += 1;
        let (f, t) = (from.index(), to.index());
        if f == t {
            return Transit::At(now);
        }
        if self.blocked[f * self.n + t] {
            self.counters.lost_partition += 1;
            return Transit::Dropped;
        }
        let hops = match self.routes[f * self.n + t] {
            Some(r) => r,
            None => self.route(f, t),
        };
        let mut at = now;
        match hops {
            Some((start, len)) if len > 0 => {
                let mut prev = f;
                for h in start..start + len {
                    let (li, dir) = self.hops[h as usize];
                    let l = &mut self.links[li as usize];
                    let next = if dir == 0 { l.to } else { l.from };
                    if prev != f && self.blocked[prev * self.n + next] {
                        self.counters.lost_partition += 1;
                        return Transit::Dropped;
                    }
                    let l = &mut self.links[li as usize];
                    if l.props.loss > 0.0 && l.rng.random::<f64>() < l.props.loss {
                        self.counters.lost_loss += 1;
                        return Transit::Dropped;
                    }
                    if let Some(bpn) = l.props.bytes_per_ns {
                        let start = at.max(l.busy_until[dir as usize]);
                        let done = start + SimTime::from_ns_f64(f64::from(size) / bpn);
                        l.busy_until[dir as usize] = done;
                        at = done;
                    }
                    at = at + l.props.latency.sample(&mut l.rng);
                    prev = next;
                }
                Transit::At(at)
            }
            _ => match &mut self.default {
                Some((props, rng)) => {
                    if props.loss > 0.0 && rng.random::<f64>() < props.loss {
                        self.counters.lost_loss += 1;
                        return Transit::Dropped;
                    }
                    if let Some(bpn) = props.bytes_per_ns {
                        at = at + SimTime::from_ns_f64(f64::from(size) / bpn);
                    }
                    Transit::At(at + props.latency.sample(rng))
                }
                None => {
                    self.counters.lost_no_route += 1;
                    Transit::Dropped
                }
            },
        }
    }

    /// Checked at delivery: messages in flight across a new partition, or to a
    /// crashed node, are dropped.
    #[inline]
    pub fn deliverable(&mut self, from: NodeId, to: NodeId, to_alive: bool) -> bool {
        if !to_alive {
            self.counters.lost_dead_node += 1;
            return false;
        }
        if self.partitioned && self.blocked[from.index() * self.n + to.index()] {
            self.counters.lost_partition += 1;
            return false;
        }
        true
    }

    /// Nodes in different groups can no longer reach each other.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        for (gi, g) in groups.iter().enumerate() {
            for (hi, h) in groups.iter().enumerate() {
                if gi != hi {
                    for &a in g {
                        for &b in h {
                            if a < self.n && b < self.n {
                                self.blocked[a * self.n + b] = true;
                            }
                        }
                    }
                }
            }
        }
        self.partitioned = true;
    }

    /// Messages from `from` to `to` are lost (the other direction still works).
    pub fn partition_one_way(&mut self, from: &[usize], to: &[usize]) {
        for &a in from {
            for &b in to {
                if a < self.n && b < self.n && a != b {
                    self.blocked[a * self.n + b] = true;
                }
            }
        }
        self.partitioned = true;
    }

    pub fn heal(&mut self) {
        self.blocked.iter_mut().for_each(|b| *b = false);
        self.partitioned = false;
    }

    /// Can `a` currently send to `b` (ignoring loss)?
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        !self.blocked[a * self.n + b]
    }

    pub fn set_latency(&mut self, link: usize, latency: crate::dist::Dist) {
        if let Some(l) = self.links.get_mut(link) {
            l.props.latency = latency;
        }
        // Latency changes may change the best routes.
        self.routes.iter_mut().for_each(|r| *r = None);
        self.hops.clear();
    }

    pub fn set_loss(&mut self, link: usize, loss: f64) {
        if let Some(l) = self.links.get_mut(link) {
            l.props.loss = loss;
        }
    }
}
