//! The establishment registry: who may open a ticket, and for which school.
//!
//! A registry file, TOML or CSV (`deploy/registry.example.toml` and `.csv`
//! hold the same example in both), lists each establishment by its UAI code
//! with its name, city, web addresses and the senders allowed to write for
//! it, each with a role. [`Registry::identify`] tells from a mail's sender,
//! and from what its text says when the sender alone cannot, which
//! establishment a request comes from; [`Policy::admit`] says what becomes of
//! a request the registry does not place.
//!
//! Pure like the intake: [`Registry::identify`] takes strings and returns a
//! value. The only I/O is [`RegistryFile`], which loads the file and reloads
//! it when it changes.
//!
//! Wiring, in order: [`RegistrySettings`] in the configuration;
//! [`RegistryFile::open`] at start-up (an error stops the daemon with the
//! file, line and problem); [`RegistryFile::refresh`] before each batch (an
//! error is logged, the previous registry stays); per request,
//! `file.registry().identify(from, &[subject, body, establishment_field],
//! &settings.shared_domains)`, then `settings.policy.admit(&identification)`.

mod file;
mod from_csv;
mod from_toml;
mod gate;
mod load;
mod policy;
mod sender;
mod site;
mod uai;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use serde::Serialize;
use url::Url;

pub use file::RegistryFile;
pub use gate::{Gate, Verdict};
pub use load::{Location, Problem, RegistryError};
pub use policy::{Admission, Policy, RegistrySettings};
pub use sender::{Address, Domain, Role, Sender, SenderError, UnknownRole};
pub use uai::{find_uais, Uai, UaiError};

use site::{find_sites, Site};

/// An establishment as a ticket shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Establishment {
    pub uai: Uai,
    pub name: String,
    pub city: String,
}

impl fmt::Display for Establishment {
    /// `Collège Jean Clavier, Saint-Étienne (0420012K)`: the shape of the
    /// request form's own establishment field, with the code to be sure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} ({})", self.name, self.city, self.uai)
    }
}

/// One establishment of the registry file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub establishment: Establishment,
    /// Its web sites (ENT, school site), in the file's order.
    pub urls: Vec<Url>,
    /// Who may write for it, in the file's order.
    pub senders: Vec<(Sender, Role)>,
}

/// How an establishment was told from a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The sender's address is listed for that establishment alone.
    Address,
    /// The sender's domain is listed for that establishment alone, and is
    /// not a shared domain.
    Domain,
    /// The sender may write for several establishments, and the mail names
    /// exactly one of them by its UAI code.
    UaiInText,
    /// The same, by one of the establishment's web addresses.
    UrlInText,
}

impl Evidence {
    /// The stored name, identical to the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Address => "address",
            Evidence::Domain => "domain",
            Evidence::UaiInText => "uai_in_text",
            Evidence::UrlInText => "url_in_text",
        }
    }
}

/// Which establishment a mail comes from, or why that is not known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Identification {
    Identified {
        establishment: Establishment,
        role: Role,
        by: Evidence,
    },
    /// The sender may write for each of the candidates (by address, or by a
    /// shared domain), and the mail does not say which one it is about.
    Ambiguous { candidates: Vec<Establishment> },
    /// Neither the address nor its domain is listed anywhere.
    UnknownSender,
}

/// One establishment a sender may write for, and as what.
#[derive(Debug, Clone, Copy)]
struct Grant {
    entry: usize,
    role: Role,
}

/// A loaded registry with its lookup tables.
#[derive(Debug, Clone)]
pub struct Registry {
    entries: Vec<Entry>,
    by_address: HashMap<Address, Vec<Grant>>,
    by_domain: HashMap<Domain, Vec<Grant>>,
    sites: Vec<(Site, usize)>,
}

impl Registry {
    /// Reads and checks a registry file, TOML or CSV by its extension.
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        load::load(path)
    }

    /// Indexes checked entries (see `load::Builder`): no UAI twice, no
    /// sender twice in one entry, every URL a site.
    fn new(entries: Vec<Entry>) -> Registry {
        let mut by_address: HashMap<Address, Vec<Grant>> = HashMap::new();
        let mut by_domain: HashMap<Domain, Vec<Grant>> = HashMap::new();
        let mut sites = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            for (sender, role) in &entry.senders {
                let grant = Grant {
                    entry: index,
                    role: *role,
                };
                let grants = match sender {
                    Sender::Address(address) => by_address.entry(address.clone()).or_default(),
                    Sender::Domain(domain) => by_domain.entry(domain.clone()).or_default(),
                };
                grants.push(grant);
            }
            sites.extend(entry.urls.iter().map(|url| (Site::of(url), index)));
        }
        Registry {
            entries,
            by_address,
            by_domain,
            sites,
        }
    }

    /// The establishments, in the file's order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Which establishment a mail from `sender` (a bare address) is about.
    ///
    /// An address listed for one establishment decides; an address listed
    /// for none falls back to its domain, which decides when it is listed
    /// for one establishment and is not in `shared_domains`. Otherwise (the
    /// address or domain is listed for several, or the domain is a shared
    /// academic one like `ac-lyon.fr`) the `texts` (subject, body, the mail's
    /// own establishment field) decide if they name exactly one of the
    /// establishments the sender may write for: by UAI code first, then by
    /// web address. A code or site of an establishment the sender may not
    /// write for counts for nothing.
    pub fn identify(
        &self,
        sender: &str,
        texts: &[&str],
        shared_domains: &[Domain],
    ) -> Identification {
        let Ok(address) = Address::parse(sender) else {
            return Identification::UnknownSender;
        };
        if let Some(grants) = self.by_address.get(&address) {
            return self.decide(grants, Evidence::Address, false, texts);
        }
        let domain = address.domain();
        match self.by_domain.get(domain) {
            Some(grants) => {
                let shared = shared_domains.contains(domain);
                self.decide(grants, Evidence::Domain, shared, texts)
            }
            None => Identification::UnknownSender,
        }
    }

    /// One grant decides by itself unless its domain is shared; several, or a
    /// shared one, need the text to name one of them.
    fn decide(
        &self,
        grants: &[Grant],
        direct: Evidence,
        shared: bool,
        texts: &[&str],
    ) -> Identification {
        match grants {
            [grant] if !shared => self.identified(*grant, direct),
            _ => match self.named_in_text(grants, texts) {
                Some((grant, by)) => self.identified(grant, by),
                None => Identification::Ambiguous {
                    candidates: grants
                        .iter()
                        .map(|grant| self.entries[grant.entry].establishment.clone())
                        .collect(),
                },
            },
        }
    }

    /// The one grant whose establishment the texts name, by code, else by
    /// site; none when they name none of them, or several.
    fn named_in_text(&self, grants: &[Grant], texts: &[&str]) -> Option<(Grant, Evidence)> {
        let codes: BTreeSet<Uai> = texts.iter().flat_map(|text| find_uais(text)).collect();
        let by_code = |grant: &&Grant| codes.contains(&self.entries[grant.entry].establishment.uai);
        if let Some(grant) = only(grants.iter().filter(by_code)) {
            return Some((*grant, Evidence::UaiInText));
        }
        let mentions: Vec<Site> = texts.iter().flat_map(|text| find_sites(text)).collect();
        // Entries first, then grants: a shared domain may be listed for
        // hundreds of establishments.
        let named: BTreeSet<usize> = self
            .sites
            .iter()
            .filter(|(site, _)| mentions.iter().any(|mention| site.covers(mention)))
            .map(|(_, entry)| *entry)
            .collect();
        let by_site = |grant: &&Grant| named.contains(&grant.entry);
        only(grants.iter().filter(by_site)).map(|grant| (*grant, Evidence::UrlInText))
    }

    fn identified(&self, grant: Grant, by: Evidence) -> Identification {
        Identification::Identified {
            establishment: self.entries[grant.entry].establishment.clone(),
            role: grant.role,
            by,
        }
    }
}

/// The single item of an iterator, if it has exactly one.
fn only<T>(mut items: impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example registry: two lycées sharing the Région's technicians and
    /// allowing any ac-lyon.fr address for one, two collèges sharing the
    /// Département's technicians and a network manager.
    const EXAMPLE: &str = include_str!("../../deploy/registry.example.toml");
    const CLAVIER: &str = "0429001F";
    const FOREZ: &str = "0429002G";
    const TILLEULS: &str = "0429003H";
    const PILAT: &str = "0429004J";

    fn example() -> Registry {
        from_toml::parse(EXAMPLE).unwrap()
    }

    fn shared() -> Vec<Domain> {
        vec![Domain::parse("ac-lyon.fr").unwrap()]
    }

    fn identify(sender: &str, texts: &[&str]) -> Identification {
        example().identify(sender, texts, &shared())
    }

    /// The code, role and evidence of an identification, or panics.
    fn placed(identification: Identification) -> (String, Role, Evidence) {
        match identification {
            Identification::Identified {
                establishment,
                role,
                by,
            } => (establishment.uai.to_string(), role, by),
            other => panic!("not identified: {other:?}"),
        }
    }

    fn candidates(identification: Identification) -> Vec<String> {
        match identification {
            Identification::Ambiguous { candidates } => {
                candidates.iter().map(|e| e.uai.to_string()).collect()
            }
            other => panic!("not ambiguous: {other:?}"),
        }
    }

    fn owned(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|code| code.to_string()).collect()
    }

    #[test]
    fn the_example_files_hold_the_same_registry() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let toml = Registry::load(&deploy.join("registry.example.toml")).unwrap();
        let csv = Registry::load(&deploy.join("registry.example.csv")).unwrap();
        assert_eq!(toml.entries().len(), 4);
        assert_eq!(toml.entries(), csv.entries());
    }

    #[test]
    fn a_listed_address_decides() {
        let identification = identify("ce.0429003h@ac-lyon.fr", &["Imprimante en panne"]);
        assert_eq!(
            placed(identification),
            (TILLEULS.into(), Role::Direction, Evidence::Address)
        );
    }

    #[test]
    fn addresses_are_compared_without_case_or_spaces() {
        let identification = identify(" Sophie.Bernard@AC-Lyon.FR ", &[]);
        assert_eq!(
            placed(identification),
            (TILLEULS.into(), Role::CorrespondantEnt, Evidence::Address)
        );
    }

    #[test]
    fn the_address_wins_over_the_shared_domain_and_the_text() {
        // ac-lyon.fr is allowed for Clavier, the text names Clavier, but the
        // address itself is listed for Forez.
        let identification = identify("ce.0429002g@ac-lyon.fr", &[CLAVIER]);
        assert_eq!(
            placed(identification),
            (FOREZ.into(), Role::Direction, Evidence::Address)
        );
    }

    #[test]
    fn a_domain_listed_once_decides() {
        let identification = identify("reseau@Lycee-du-Forez.example", &[]);
        assert_eq!(
            placed(identification),
            (FOREZ.into(), Role::GestionnaireReseau, Evidence::Domain)
        );
    }

    #[test]
    fn a_shared_domain_needs_the_text_even_when_listed_once() {
        let sender = "paul.martin@ac-lyon.fr";
        assert_eq!(
            candidates(identify(sender, &["Bonjour"])),
            owned(&[CLAVIER])
        );
        let body = "Pour le lycée (UAI 0429001f), l'ENT ne répond plus.";
        assert_eq!(
            placed(identify(sender, &["ENT", body])),
            (CLAVIER.into(), Role::CorrespondantEnt, Evidence::UaiInText)
        );
        let field = "https://jean-clavier.ent.auvergnerhonealpes.fr/";
        assert_eq!(
            placed(identify(sender, &["ENT", "", field])),
            (CLAVIER.into(), Role::CorrespondantEnt, Evidence::UrlInText)
        );
        // Without the shared list, the one listing decides.
        let placed_alone = example().identify(sender, &[], &[]);
        assert_eq!(
            placed(placed_alone),
            (CLAVIER.into(), Role::CorrespondantEnt, Evidence::Domain)
        );
    }

    #[test]
    fn a_domain_listed_for_several_needs_the_text() {
        let sender = "technicien@loire.fr";
        assert_eq!(
            candidates(identify(sender, &["Poste 12 HS"])),
            owned(&[TILLEULS, PILAT])
        );
        assert_eq!(
            placed(identify(sender, &["Collège 0429004J : poste 12 HS"])),
            (
                PILAT.into(),
                Role::CorrespondantMaintenance,
                Evidence::UaiInText
            )
        );
        assert_eq!(
            placed(identify(
                sender,
                &["vu sur les-tilleuls.colleges42.example."]
            )),
            (
                TILLEULS.into(),
                Role::CorrespondantMaintenance,
                Evidence::UrlInText
            )
        );
    }

    #[test]
    fn an_address_listed_for_several_needs_the_text() {
        let sender = "julien.perrin@ac-lyon.fr";
        assert_eq!(candidates(identify(sender, &[])), owned(&[TILLEULS, PILAT]));
        assert_eq!(
            placed(identify(
                sender,
                &["Switch du Pilat", "https://pilat.colleges42.example"]
            )),
            (PILAT.into(), Role::GestionnaireReseau, Evidence::UrlInText)
        );
    }

    #[test]
    fn only_establishments_the_sender_may_write_for_count() {
        // Clavier allows ac-lyon.fr, not loire.fr: its code and site do not
        // place a Département technician there.
        let texts = ["0429001F https://jean-clavier.ent.auvergnerhonealpes.fr"];
        assert_eq!(
            candidates(identify("technicien@loire.fr", &texts)),
            owned(&[TILLEULS, PILAT])
        );
    }

    #[test]
    fn a_code_with_a_wrong_letter_counts_for_nothing() {
        assert_eq!(
            candidates(identify("technicien@loire.fr", &["0429004K"])),
            owned(&[TILLEULS, PILAT])
        );
    }

    #[test]
    fn codes_decide_before_sites() {
        // Two codes name both collèges; the one site then decides.
        let texts = ["0429003H et 0429004J", "pilat.colleges42.example"];
        assert_eq!(
            placed(identify("technicien@loire.fr", &texts)),
            (
                PILAT.into(),
                Role::CorrespondantMaintenance,
                Evidence::UrlInText
            )
        );
        // A code and another collège's site: the code decides.
        let texts = ["0429003H", "pilat.colleges42.example"];
        assert_eq!(placed(identify("technicien@loire.fr", &texts)).0, TILLEULS);
        // Both named both ways: nobody can tell.
        let texts = ["0429003H 0429004J pilat.colleges42.example les-tilleuls.colleges42.example"];
        assert_eq!(candidates(identify("technicien@loire.fr", &texts)).len(), 2);
    }

    #[test]
    fn anyone_else_is_unknown() {
        for sender in [
            "jean.dupont@gmail.com",
            "ce.0429001f@ac-grenoble.fr",
            "not an address",
            "",
            "Jean <ce.0429001f@ac-lyon.fr>",
        ] {
            assert_eq!(
                identify(sender, &[CLAVIER]),
                Identification::UnknownSender,
                "{sender}"
            );
        }
    }

    #[test]
    fn an_establishment_reads_like_the_form_field() {
        let registry = example();
        let clavier = &registry.entries()[0].establishment;
        assert_eq!(
            clavier.to_string(),
            "Lycée Jean Clavier, Saint-Étienne (0429001F)"
        );
    }

    #[test]
    fn identifications_serialise_for_the_record() {
        let identification = identify("ce.0429001f@ac-lyon.fr", &[]);
        assert_eq!(
            serde_json::to_value(&identification).unwrap(),
            serde_json::json!({
                "result": "identified",
                "establishment": {
                    "uai": "0429001F",
                    "name": "Lycée Jean Clavier",
                    "city": "Saint-Étienne",
                },
                "role": "direction",
                "by": "address",
            })
        );
        assert_eq!(
            serde_json::to_value(identify("x@gmail.com", &[])).unwrap(),
            serde_json::json!({ "result": "unknown_sender" })
        );
    }

    #[test]
    fn only_is_exactly_one() {
        assert_eq!(only([1].into_iter()), Some(1));
        assert_eq!(only([1, 2].into_iter()), None);
        assert_eq!(only(std::iter::empty::<u8>()), None);
    }
}
