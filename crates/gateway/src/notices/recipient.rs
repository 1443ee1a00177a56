//! Who gets which notice: a recipient wants some roles' notices for some periods; a
//! draft addressed to it becomes a [`Notice`] whose id is the draft's event key and the
//! recipient's name, the same on every retry and after every restart.

use std::collections::BTreeSet;

use netsettle_client::notice::Notice;

use super::derive::{Draft, Role};

/// The periods a recipient wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Periods {
    /// Every period.
    All,
    /// These periods (`YYYY-MM`) only.
    Only(BTreeSet<String>),
}

/// One configured recipient (its channel is the delivery side's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The configured name, unique in the config; part of each notice id.
    pub name: String,
    /// The roles whose notices it wants.
    pub roles: BTreeSet<Role>,
    /// The periods it wants.
    pub periods: Periods,
}

impl Recipient {
    /// Whether `draft` is for this recipient: one of its roles, one of its periods (a
    /// draft with no period goes to every recipient of its roles).
    pub fn wants(&self, draft: &Draft) -> bool {
        let role = draft.roles.iter().any(|role| self.roles.contains(role));
        let period = match (&self.periods, &draft.period) {
            (Periods::All, _) | (Periods::Only(_), None) => true,
            (Periods::Only(periods), Some(period)) => periods.contains(period),
        };
        role && period
    }
}

/// `draft` as the notice for `recipient`, from the node of `carrier` on `channel`.
pub fn address(draft: &Draft, recipient: &Recipient, channel: &str, carrier: &str) -> Notice {
    Notice {
        id: format!("{}:{}", draft.event_key, recipient.name),
        kind: draft.kind.to_owned(),
        channel: channel.to_owned(),
        carrier: carrier.to_owned(),
        period: draft.period.clone(),
        text: draft.text.clone(),
        block: draft.block,
        tx_id: draft.tx_id.clone(),
        at_ms: draft.at_ms,
        recipient: recipient.name.clone(),
    }
}
