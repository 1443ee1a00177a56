//! Which orderer a broadcast tries first: the Raft leader, as the orderers' answers name
//! it, so the envelope skips a follower's forwarding hop (and the follower's checks).
//!
//! Every broadcast answer names the leader the answering orderer knows
//! (`BroadcastResponse::leader`). An orderer of the other carrier may lie, so a hint is
//! only ever a preference among the client's own list of orderers (the connection
//! profile's): a name outside it, or one that does not parse, is ignored; the preferred
//! orderer is tried first and the others follow in the profile's order, so the set of
//! orderers an attempt tries is exactly today's. A preferred orderer that cannot be reached
//! loses the preference and is not taken as a hint again for
//! [`HINT_SHUNNED_BROADCASTS`] broadcasts (or until it answers one), so a liar naming dead
//! orderers costs at most one failed request per dead orderer in that span.

use std::sync::Mutex;

use netsettle_net::NodeId;

use crate::Endpoint;
use crate::limits::HINT_SHUNNED_BROADCASTS;

/// The leader hint the gateway follows. Cheap to share; every method takes `&self`.
#[derive(Debug, Default)]
pub struct OrdererPreference {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The orderer to try first, one of the profile's.
    leader: Option<NodeId>,
    /// Orderers that could not be reached when preferred, with the broadcasts left before
    /// a hint may name them again. At most one entry per profile orderer.
    shunned: Vec<(NodeId, u32)>,
}

impl OrdererPreference {
    /// A preference with no hint yet: the profile's order.
    pub fn new() -> OrdererPreference {
        OrdererPreference::default()
    }

    /// The indices into `orderers` in the order to try them: the hinted leader first (when
    /// it is one of `orderers`), then the rest in their own order.
    pub fn order(&self, orderers: &[Endpoint]) -> Vec<usize> {
        let leader = self.lock().leader;
        let first = leader.and_then(|leader| {
            orderers
                .iter()
                .position(|orderer| orderer.node_id == leader)
        });
        first
            .into_iter()
            .chain((0..orderers.len()).filter(|index| Some(*index) != first))
            .collect()
    }

    /// The orderer of `orderers` last named the leader, if any.
    pub fn leader<'a>(&self, orderers: &'a [Endpoint]) -> Option<&'a Endpoint> {
        let leader = self.lock().leader?;
        orderers.iter().find(|orderer| orderer.node_id == leader)
    }

    /// `from` answered a broadcast naming `hint` as the leader: prefer that orderer from
    /// now on when it is one of `orderers` and not shunned; otherwise go back to the
    /// profile's order. (An answer, whatever its status, shows `from` is reachable.)
    pub fn answered(&self, orderers: &[Endpoint], from: NodeId, hint: Option<&str>) {
        let hinted = hint
            .and_then(|text| text.parse::<NodeId>().ok())
            .filter(|node| orderers.iter().any(|orderer| orderer.node_id == *node));
        let mut state = self.lock();
        state.shunned.retain(|(node, _)| *node != from);
        let hinted =
            hinted.filter(|node| !state.shunned.iter().any(|(shunned, _)| shunned == node));
        if hinted != state.leader {
            tracing::debug!(?hinted, %from, "broadcast leader hint");
        }
        state.leader = hinted;
    }

    /// `orderer` could not be reached: when it was the preferred one, drop the preference
    /// and take no hint naming it for a while.
    pub fn unreachable(&self, orderer: NodeId) {
        let mut state = self.lock();
        if state.leader != Some(orderer) {
            return;
        }
        state.leader = None;
        state.shunned.retain(|(node, _)| *node != orderer);
        state.shunned.push((orderer, HINT_SHUNNED_BROADCASTS));
    }

    /// A broadcast ended: shunned orderers are one broadcast closer to being trusted again.
    pub fn broadcast_done(&self) {
        let mut state = self.lock();
        for (_, left) in &mut state.shunned {
            *left = left.saturating_sub(1);
        }
        state.shunned.retain(|(_, left)| *left > 0);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a hint: a panic elsewhere while holding it leaves nothing unsafe.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use netsettle_smcrypto::PrivateKey;

    use super::*;

    fn endpoints(n: usize) -> Vec<Endpoint> {
        (0..n)
            .map(|index| Endpoint {
                msp_id: format!("Org{}", index % 2),
                node_id: NodeId::from_public_key(PrivateKey::generate().public_key()),
            })
            .collect()
    }

    fn name(endpoint: &Endpoint) -> String {
        endpoint.node_id.to_string()
    }

    #[test]
    fn without_a_hint_the_profile_order_holds() {
        let orderers = endpoints(3);
        let preference = OrdererPreference::new();
        assert_eq!(preference.order(&orderers), vec![0, 1, 2]);
        assert_eq!(preference.leader(&orderers), None);
        assert_eq!(preference.order(&[]), Vec::<usize>::new());
    }

    #[test]
    fn the_named_leader_is_tried_first_then_the_profile_order() {
        let orderers = endpoints(4);
        let preference = OrdererPreference::new();
        preference.answered(&orderers, orderers[0].node_id, Some(&name(&orderers[2])));
        assert_eq!(preference.order(&orderers), vec![2, 0, 1, 3]);
        assert_eq!(preference.leader(&orderers), orderers.get(2));
        // The leader itself confirms it.
        preference.answered(&orderers, orderers[2].node_id, Some(&name(&orderers[2])));
        assert_eq!(preference.order(&orderers), vec![2, 0, 1, 3]);
        // An answer that knows no leader (an election) goes back to the profile order.
        preference.answered(&orderers, orderers[1].node_id, None);
        assert_eq!(preference.order(&orderers), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_hint_outside_the_profile_or_garbled_is_ignored() {
        let orderers = endpoints(3);
        let stranger = &endpoints(1)[0];
        let preference = OrdererPreference::new();
        preference.answered(&orderers, orderers[1].node_id, Some(&name(&orderers[1])));
        preference.answered(&orderers, orderers[0].node_id, Some(&name(stranger)));
        assert_eq!(preference.order(&orderers), vec![0, 1, 2]);
        for garbled in ["", "leader", "12D3KooW", &"1".repeat(64)] {
            preference.answered(&orderers, orderers[0].node_id, Some(garbled));
            assert_eq!(preference.order(&orderers), vec![0, 1, 2], "{garbled:?}");
        }
    }

    #[test]
    fn a_lying_hint_naming_an_unreachable_orderer_costs_one_failure() {
        let orderers = endpoints(3);
        let (liar, dead) = (orderers[0].node_id, orderers[2].node_id);
        let preference = OrdererPreference::new();
        preference.answered(&orderers, liar, Some(&dead.to_string()));
        assert_eq!(preference.order(&orderers), vec![2, 0, 1]);
        preference.unreachable(dead);
        assert_eq!(preference.order(&orderers), vec![0, 1, 2]);
        // The liar repeats itself: ignored while the dead orderer is shunned.
        for _ in 1..HINT_SHUNNED_BROADCASTS {
            preference.broadcast_done();
            preference.answered(&orderers, liar, Some(&dead.to_string()));
            assert_eq!(preference.order(&orderers), vec![0, 1, 2]);
        }
        // Shunned for a bounded time only: the real leader may come back.
        preference.broadcast_done();
        preference.answered(&orderers, liar, Some(&dead.to_string()));
        assert_eq!(preference.order(&orderers), vec![2, 0, 1]);
    }

    #[test]
    fn an_orderer_that_answers_is_no_longer_shunned() {
        let orderers = endpoints(3);
        let preference = OrdererPreference::new();
        let back = orderers[1].node_id;
        preference.answered(&orderers, orderers[0].node_id, Some(&back.to_string()));
        preference.unreachable(back);
        preference.answered(&orderers, back, Some(&back.to_string()));
        assert_eq!(preference.order(&orderers), vec![1, 0, 2]);
        // Failing while not preferred changes nothing.
        preference.unreachable(orderers[2].node_id);
        assert_eq!(preference.order(&orderers), vec![1, 0, 2]);
    }
}
