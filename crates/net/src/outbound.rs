//! Our own requests, node by node: at most `NetLimits::streams_per_node_max` of them are
//! on the wire to one node at a time; the rest wait here, in the order they were made,
//! and go out as earlier ones finish.
//!
//! Why: every request is a yamux stream, and yamux closes the *whole connection* when a
//! remote opens more streams than its `max_num_streams` (it cannot refuse one stream).
//! Before this queue a role that made many requests at once (a client with hundreds of
//! broadcasts waiting for ordering, an orderer forwarding proposals to its leader) made
//! the other side drop the connection, failing every request on it ("connection closed
//! before a response"); now the number of streams a node opens to another is bounded by
//! a limit both sides know, and the muxer's limit is set above it (see
//! `NetLimits::muxer_streams_max`).
//!
//! Pure bookkeeping: no I/O, no clock reads (callers pass `now`).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What to do with a new request.
#[derive(Debug)]
pub(crate) enum Admission<T> {
    /// Send it now.
    Send(T),
    /// It waits behind earlier requests to the same node.
    Queued,
    /// Too many requests are open already (on the wire and waiting, all nodes together).
    Busy(T, usize),
}

/// Requests to nodes named by `K`, each carried as a `T`.
#[derive(Debug)]
pub(crate) struct OutboundRequests<K, T> {
    per_node_max: usize,
    total_max: usize,
    on_wire: HashMap<K, usize>,
    waiting: HashMap<K, VecDeque<(Instant, T)>>,
    total: usize,
}

impl<K: Copy + Eq + Hash, T> OutboundRequests<K, T> {
    pub(crate) fn new(per_node_max: usize, total_max: usize) -> Self {
        assert!(per_node_max > 0, "NetLimits::check refuses zero");
        OutboundRequests {
            per_node_max,
            total_max,
            on_wire: HashMap::new(),
            waiting: HashMap::new(),
            total: 0,
        }
    }

    /// Requests on the wire or waiting, all nodes together.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.total
    }

    /// Take a new request to `node`.
    pub(crate) fn admit(&mut self, node: K, request: T, now: Instant) -> Admission<T> {
        if self.total >= self.total_max {
            return Admission::Busy(request, self.total);
        }
        self.total += 1;
        let on_wire = self.on_wire.entry(node).or_insert(0);
        if *on_wire < self.per_node_max {
            *on_wire += 1;
            return Admission::Send(request);
        }
        self.waiting
            .entry(node)
            .or_default()
            .push_back((now, request));
        Admission::Queued
    }

    /// A request to `node` that was on the wire finished (answered or failed): the next
    /// waiting request to that node, now on the wire, if any.
    pub(crate) fn finished(&mut self, node: K) -> Option<T> {
        let Some(on_wire) = self.on_wire.get_mut(&node) else {
            debug_assert!(false, "a request finished that was never sent");
            return None;
        };
        assert!(*on_wire > 0, "more requests finished than were sent");
        assert!(self.total > 0, "the total covers every request on the wire");
        self.total -= 1;
        let next = self.waiting.get_mut(&node).and_then(VecDeque::pop_front);
        match next {
            Some((_, request)) => {
                if self.waiting.get(&node).is_some_and(VecDeque::is_empty) {
                    self.waiting.remove(&node);
                }
                Some(request)
            }
            None => {
                *on_wire -= 1;
                if *on_wire == 0 {
                    self.on_wire.remove(&node);
                }
                None
            }
        }
    }

    /// Removes and returns the waiting requests that have waited `timeout` or longer (the
    /// caller fails them: the request timeout covers the wait as well as the wire).
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<T> {
        let mut expired = Vec::new();
        self.waiting.retain(|_, queue| {
            while queue
                .front()
                .is_some_and(|(since, _)| now.saturating_duration_since(*since) >= timeout)
            {
                if let Some((_, request)) = queue.pop_front() {
                    expired.push(request);
                }
            }
            !queue.is_empty()
        });
        assert!(self.total >= expired.len(), "expired requests were counted");
        self.total -= expired.len();
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent<T>(admission: Admission<T>) -> T {
        match admission {
            Admission::Send(request) => request,
            other => panic!("expected Send, got {}", kind(&other)),
        }
    }

    fn kind<T>(admission: &Admission<T>) -> &'static str {
        match admission {
            Admission::Send(_) => "Send",
            Admission::Queued => "Queued",
            Admission::Busy(..) => "Busy",
        }
    }

    #[test]
    fn requests_beyond_the_per_node_limit_wait_in_order_and_follow_finished_ones() {
        let now = Instant::now();
        let mut requests = OutboundRequests::new(2, 10);
        assert_eq!(sent(requests.admit('a', 1, now)), 1);
        assert_eq!(sent(requests.admit('a', 2, now)), 2);
        assert_eq!(kind(&requests.admit('a', 3, now)), "Queued");
        assert_eq!(kind(&requests.admit('a', 4, now)), "Queued");
        // Another node has slots of its own.
        assert_eq!(sent(requests.admit('b', 5, now)), 5);
        assert_eq!(requests.open(), 5);
        assert_eq!(requests.finished('a'), Some(3));
        assert_eq!(requests.finished('a'), Some(4));
        assert_eq!(requests.finished('a'), None);
        assert_eq!(requests.finished('a'), None);
        assert_eq!(requests.finished('b'), None);
        assert_eq!(requests.open(), 0);
        assert!(requests.on_wire.is_empty() && requests.waiting.is_empty());
    }

    #[test]
    fn the_total_is_bounded_and_waiting_requests_expire() {
        let now = Instant::now();
        let mut requests = OutboundRequests::new(1, 3);
        sent(requests.admit('a', 1, now));
        assert_eq!(kind(&requests.admit('a', 2, now)), "Queued");
        let later = now + Duration::from_secs(1);
        assert_eq!(kind(&requests.admit('a', 3, later)), "Queued");
        assert!(matches!(
            requests.admit('b', 4, later),
            Admission::Busy(4, 3)
        ));
        let timeout = Duration::from_secs(1);
        assert_eq!(requests.expire(later, timeout), vec![2]);
        assert_eq!(requests.open(), 2);
        assert_eq!(requests.finished('a'), Some(3));
        assert_eq!(requests.expire(later + timeout, timeout), Vec::<u32>::new());
        assert_eq!(requests.finished('a'), None);
        assert_eq!(requests.open(), 0);
    }
}
