//! Capacity backends: where workers come from. `local` keeps worker processes alive on
//! this machine (the embedded default); `external` leaves it to someone else (a cluster).

pub mod local;
