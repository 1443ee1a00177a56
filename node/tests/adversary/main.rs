//! The adversarial suite: one carrier (Unicom) holds its own CA and nodes and tries every
//! attack of issue 15 against the other carrier's real `netsettle` processes; afterwards
//! the honest nodes' ledgers verify and compare identical. One module per area.

mod chain;
