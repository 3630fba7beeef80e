use super::*;

#[derive(Debug, Clone, PartialEq)]
enum TMsg {
    Ping(u32),
}

#[derive(Default)]
struct TWorld {
    log: Vec<(u64, u32, String)>,
}

impl World<TMsg> for TWorld {
    fn transit(&mut self, now: SimTime, _from: NodeId, _to: NodeId, _msg: &TMsg) -> Transit {
        Transit::At(now + SimTime::from_ms(1))
    }
    fn deliverable(&mut self, _: SimTime, _: NodeId, _: NodeId, _: &TMsg, alive: bool) -> bool {
        alive
    }
}

struct Pinger {
    peer: NodeId,
}

impl Component<TMsg, TWorld> for Pinger {
    fn on_start(&mut self, ctx: &mut Ctx<'_, TMsg, TWorld>) {
        ctx.set_timer(SimTime::from_ms(5), 7);
        ctx.set_timer(SimTime::from_ms(5), 8);
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, TMsg, TWorld>, _from: NodeId, msg: TMsg) {
        let TMsg::Ping(n) = msg;
        ctx.world
            .log
            .push((ctx.now.as_ns(), ctx.me.0, format!("ping {n}")));
        if n < 3 {
            ctx.send(self.peer, TMsg::Ping(n + 1));
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, TMsg, TWorld>, tag: u64) {
        ctx.world
            .log
            .push((ctx.now.as_ns(), ctx.me.0, format!("timer {tag}")));
        if tag == 7 && ctx.me.0 == 0 {
            ctx.send(self.peer, TMsg::Ping(0));
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn build() -> Sim<TMsg, TWorld> {
    let mut sim = Sim::new(1, TWorld::default());
    sim.add("a", Box::new(Pinger { peer: NodeId(1) }));
    sim.add("b", Box::new(Pinger { peer: NodeId(0) }));
    sim
}

#[test]
fn simultaneous_events_run_in_scheduling_order() {
    let mut sim = build();
    assert_eq!(sim.run(SimTime::from_secs(1), 1_000), RunEnd::Idle);
    let log: Vec<String> = sim
        .world
        .log
        .iter()
        .map(|(t, n, s)| format!("{t}:{n}:{s}"))
        .collect();
    assert_eq!(
        log,
        vec![
            "5000000:0:timer 7",
            "5000000:0:timer 8",
            "5000000:1:timer 7",
            "5000000:1:timer 8",
            "6000000:1:ping 0",
            "7000000:0:ping 1",
            "8000000:1:ping 2",
            "9000000:0:ping 3",
        ]
    );
}

#[test]
fn event_limit_and_horizon_are_reported() {
    let mut sim = build();
    assert_eq!(sim.run(SimTime::from_secs(1), 3), RunEnd::EventLimit);
    let mut sim = build();
    assert_eq!(sim.run(SimTime::from_ms(6), 1_000), RunEnd::Horizon);
}

#[test]
fn crash_cancels_timers_and_drops_messages() {
    let mut sim = build();
    sim.run(SimTime::from_ms(1), 100);
    sim.crash(NodeId(1));
    sim.run(SimTime::from_secs(1), 100);
    // b's timers never fire and a's ping to b is dropped at delivery.
    assert!(sim.world.log.iter().all(|(_, n, _)| *n == 0));
    assert_eq!(sim.world.log.len(), 2);
}
