//! Applies a [`Fault`] to a system under test through its [`System`] seam: partitions, packet
//! faults and their heals to its network, kills, starts, pauses, resumes and clock rates to the replicas of the hosts
//! it names.

use faults::fault::Fault;

use crate::control::system::System;
use crate::error::Error;

/// Applies `fault` to `system`; every host it names is handled concurrently.
pub async fn apply(system: &impl System, fault: &Fault) -> Result<(), Error> {
    match fault {
        Fault::Partition { grudge } => system.partition(grudge).await,
        Fault::Heal => system.heal().await,
        Fault::Kill { hosts } => system.kill(hosts).await,
        Fault::Start { hosts } => system.start(hosts).await,
        Fault::Pause { hosts } => system.pause(hosts).await,
        Fault::Resume { hosts } => system.resume(hosts).await,
        Fault::ClockRate { hosts, rate } => system.clock_rate(hosts, *rate).await,
        Fault::ResetClock { hosts } => system.clock_rate(hosts, 1.0).await,
        Fault::Packet { links, behaviour, seed } => system.packet(links, behaviour, *seed).await,
        Fault::HealPacket => system.heal_packets().await,
    }
}
