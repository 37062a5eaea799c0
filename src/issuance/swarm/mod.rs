//! Certificates as versioned swarm secrets: publishing them, and rotating live services onto a new version.

pub mod publish;
pub mod rotate;
