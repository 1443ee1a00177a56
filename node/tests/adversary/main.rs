//! The adversarial suite: one carrier, holding its own CA and nodes (its CA can mint a
//! certificate of any role), misbehaves against the other carrier's real `netsettle`
//! processes; each module is one family of attacks of issue 15, and each checks afterwards
//! that the honest nodes' ledgers verify and compare identical.

mod chain;
mod fairness;
mod trust;
