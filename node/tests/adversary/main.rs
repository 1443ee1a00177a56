//! The adversarial suite: one carrier, holding its own CA, its own nodes and its own
//! clients, attacks the other carrier's real `netsettle` processes, and afterwards the
//! honest carrier's ledgers verify and compare identical. One module per area of attack;
//! each starts its consortium on a loopback slot of its own.

mod fairness;
