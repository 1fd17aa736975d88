//! Node selectors: which replicas a kill, pause or clock fault hits.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::Host;

/// A rule that picks target replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// One random replica.
    One,
    /// A random minority (fewer than half).
    Minority,
    /// A random majority (more than half).
    Majority,
    /// Every replica.
    All,
    /// The current master.
    Master,
}

/// Picks the replicas `selector` names among `replicas`; empty when `Master` and none is known.
pub fn select<R: Rng + ?Sized>(
    selector: Selector,
    replicas: &[Host],
    master: Option<&Host>,
    rng: &mut R,
) -> Vec<Host> {
    let mut shuffled = replicas.to_vec();
    shuffled.shuffle(rng);
    let n = replicas.len();
    let count = match selector {
        Selector::One => 1.min(n),
        Selector::Minority => n.saturating_sub(1) / 2,
        Selector::Majority => n / 2 + 1,
        Selector::All => n,
        Selector::Master => return master.into_iter().cloned().collect(),
    };
    let mut picked: Vec<Host> = shuffled.into_iter().take(count.min(n)).collect();
    picked.sort();
    picked
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn selectors_pick_the_right_counts() {
        let replicas: Vec<Host> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(select(Selector::One, &replicas, None, &mut rng).len(), 1);
        assert_eq!(select(Selector::Minority, &replicas, None, &mut rng).len(), 2);
        assert_eq!(select(Selector::Majority, &replicas, None, &mut rng).len(), 3);
        assert_eq!(select(Selector::All, &replicas, None, &mut rng), replicas);
        assert_eq!(select(Selector::Master, &replicas, Some(&"n4".to_string()), &mut rng), vec!["n4"]);
        assert!(select(Selector::Master, &replicas, None, &mut rng).is_empty());
    }
}
