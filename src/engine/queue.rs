//! The pending-event queue: a binary heap ordered by (time, scheduling sequence),
//! so simultaneous events run in the order they were scheduled.

use super::{NodeId, SimTime};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

pub(crate) enum Payload<M> {
    Message { from: NodeId, msg: M },
    Timer { tag: u64, epoch: u32 },
}

pub(crate) struct Event<M> {
    time: SimTime,
    seq: u64,
    pub(crate) target: NodeId,
    pub(crate) payload: Payload<M>,
}

impl<M> PartialEq for Event<M> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<M> Eq for Event<M> {}
impl<M> PartialOrd for Event<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Event<M> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we want the earliest (time, seq) first.
        other
            .time
            .cmp(&self.time)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Pending events.
pub struct EventQueue<M> {
    heap: BinaryHeap<Event<M>>,
    seq: u64,
}

impl<M> Default for EventQueue<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> EventQueue<M> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(1024),
            seq: 0,
        }
    }

    #[inline]
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    #[inline]
    pub(crate) fn push_message(&mut self, time: SimTime, target: NodeId, from: NodeId, msg: M) {
        let seq = self.next_seq();
        self.heap.push(Event {
            time,
            seq,
            target,
            payload: Payload::Message { from, msg },
        });
    }

    #[inline]
    pub(crate) fn push_timer(&mut self, time: SimTime, target: NodeId, tag: u64, epoch: u32) {
        let seq = self.next_seq();
        self.heap.push(Event {
            time,
            seq,
            target,
            payload: Payload::Timer { tag, epoch },
        });
    }

    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Event<M>> {
        self.heap.pop()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
