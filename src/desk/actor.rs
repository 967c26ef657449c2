//! Who did something to a ticket, as its history records it. The stored
//! text (`requester:ADDRESS`, `agent:NAME`, `itsm:academie`…) is what every
//! database already holds; it is written by [`Actor`]'s `Display` and read
//! back by [`Actor::parse`], nowhere else.

use std::fmt;

/// The one who made a change, or sent a mail about a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The ticket's requester, by address.
    Requester(String),
    /// Someone who wrote about a ticket that is not theirs, or whose staff
    /// address our MTA did not prove.
    Stranger(String),
    /// A configured agent, by name (also an operator on the command line).
    Agent(String),
    /// A team's shared address, by team name.
    Team(String),
    /// Guichet itself: routing, timers, sync bookkeeping.
    System,
    /// The academy's ITSM partner, by partner name.
    Itsm(String),
    /// A partner Guichet instance, by partner name.
    Partner(String),
}

impl Actor {
    /// Reads a stored actor back; `None` for text no version ever wrote.
    pub fn parse(text: &str) -> Option<Actor> {
        if text == "system" {
            return Some(Actor::System);
        }
        let (kind, name) = text.split_once(':')?;
        let name = name.to_string();
        Some(match kind {
            "requester" => Actor::Requester(name),
            "stranger" => Actor::Stranger(name),
            "agent" => Actor::Agent(name),
            "team" => Actor::Team(name),
            "itsm" => Actor::Itsm(name),
            "partner" => Actor::Partner(name),
            _ => return None,
        })
    }

    /// The sync partner that made the change, if one did.
    pub fn partner_name(&self) -> Option<&str> {
        match self {
            Actor::Itsm(name) | Actor::Partner(name) => Some(name),
            _ => None,
        }
    }

    /// Whether the requester is to be told of this actor's change. A
    /// partner Guichet told its requester already (the instance where a
    /// change is made tells the requester), and requesters are not told
    /// what they did themselves.
    pub fn tells_requester(&self) -> bool {
        !matches!(self, Actor::Partner(_) | Actor::Requester(_))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Requester(address) => write!(f, "requester:{address}"),
            Actor::Stranger(address) => write!(f, "stranger:{address}"),
            Actor::Agent(name) => write!(f, "agent:{name}"),
            Actor::Team(name) => write!(f, "team:{name}"),
            Actor::System => f.write_str("system"),
            Actor::Itsm(name) => write!(f, "itsm:{name}"),
            Actor::Partner(name) => write!(f, "partner:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored text is unchanged: no data migration.
    #[test]
    fn actors_read_back_as_they_were_stored() {
        for stored in [
            "requester:paul@etab.example",
            "stranger:mallory@evil.example",
            "agent:alice",
            "agent:cli",
            "team:maintenance",
            "system",
            "itsm:academie",
            "partner:prestataire",
        ] {
            let actor = Actor::parse(stored).unwrap();
            assert_eq!(actor.to_string(), stored);
        }
        assert_eq!(Actor::parse("operator"), None);
        assert_eq!(Actor::parse("robot:x"), None);
    }

    #[test]
    fn only_partners_are_partners_and_requesters_are_not_told_their_own_change() {
        assert_eq!(Actor::Itsm("a".into()).partner_name(), Some("a"));
        assert_eq!(Actor::Agent("a".into()).partner_name(), None);
        assert!(!Actor::Partner("p".into()).tells_requester());
        assert!(!Actor::Requester("r@x".into()).tells_requester());
        assert!(Actor::Itsm("a".into()).tells_requester());
        assert!(Actor::System.tells_requester());
    }
}
