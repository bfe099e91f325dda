//! Why a drain started: a terminate lifecycle action (every drain before early drains), or an
//! early notice from EC2 that came before any lifecycle action (a Spot interruption warning,
//! a rebalance recommendation). Records written before the kind existed have none: they are
//! lifecycle drains, so the field defaults to [`DrainKind::Lifecycle`].

use serde::{Deserialize, Serialize};

use crate::decision::spot::EarlyDrainKind;

/// What started a drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrainKind {
    /// A terminate lifecycle action (also every record stored without a kind).
    #[default]
    Lifecycle,
    /// A Spot interruption warning: the instance goes away at the two-minute horizon.
    Interruption,
    /// A rebalance recommendation (when enabled): elevated risk, no interruption scheduled.
    Rebalance,
}

impl DrainKind {
    /// The name stored in DynamoDB and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            DrainKind::Lifecycle => "lifecycle",
            DrainKind::Interruption => "interruption",
            DrainKind::Rebalance => "rebalance",
        }
    }

    /// Parses [`DrainKind::as_str`].
    pub fn parse(text: &str) -> Option<DrainKind> {
        match text {
            "lifecycle" => Some(DrainKind::Lifecycle),
            "interruption" => Some(DrainKind::Interruption),
            "rebalance" => Some(DrainKind::Rebalance),
            _ => None,
        }
    }
}

impl From<EarlyDrainKind> for DrainKind {
    fn from(kind: EarlyDrainKind) -> DrainKind {
        match kind {
            EarlyDrainKind::Interruption => DrainKind::Interruption,
            EarlyDrainKind::Rebalance => DrainKind::Rebalance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_a_record_without_one_is_a_lifecycle_drain() {
        for kind in [
            DrainKind::Lifecycle,
            DrainKind::Interruption,
            DrainKind::Rebalance,
        ] {
            assert_eq!(DrainKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DrainKind::parse("spot"), None);
        assert_eq!(DrainKind::default(), DrainKind::Lifecycle);
        assert_eq!(
            DrainKind::from(EarlyDrainKind::Interruption),
            DrainKind::Interruption
        );
    }
}
