//! What is due and when: the due rule, `renew --due`, the OS schedulers that run it, and the warnings every command prints.

pub mod due;
pub mod health;
pub mod renew_due;
pub mod schedule;
