//! The adversarial suite: one carrier, holding its own CA and nodes, misbehaves against
//! the other carrier's real `netsettle` processes; each file is one family of attacks,
//! and each checks afterwards that the honest nodes' ledgers verify and agree.

mod trust;
