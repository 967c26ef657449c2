//! The TOML registry: one `[[establishment]]` table per establishment, its
//! allowed senders as `[[establishment.sender]]` tables under it.
//!
//! ```toml
//! [[establishment]]
//! uai = "0420012K"
//! name = "Collège Jean Clavier"
//! city = "Saint-Étienne"
//! urls = ["https://jean-clavier.ent.auvergnerhonealpes.fr"]
//!
//! [[establishment.sender]]
//! address = "ce.0420012k@ac-lyon.fr"
//! role = "direction"
//!
//! [[establishment.sender]]
//! domain = "clavier.example.fr"       # or address = "@clavier.example.fr"
//! role = "correspondant_ent"
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::load::{Builder, Cell, Located, Location, Problem};
use super::sender::{Domain, Sender};
use super::Registry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    establishment: Vec<EstablishmentTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EstablishmentTable {
    uai: Spanned<String>,
    name: Spanned<String>,
    city: Spanned<String>,
    #[serde(default)]
    urls: Vec<Spanned<String>>,
    #[serde(default)]
    sender: Vec<Spanned<SenderTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SenderTable {
    address: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    role: Spanned<String>,
}

/// Reads a TOML registry.
pub(super) fn parse(text: &str) -> Result<Registry, Located> {
    let file: File = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map_or(Location::line(1), |span| locate(text, span.start, None));
        at.problem(Problem::Syntax(e.message().trim().to_string()))
    })?;
    let mut builder = Builder::default();
    for table in &file.establishment {
        add(&mut builder, text, table)?;
    }
    builder.finish()
}

fn add(builder: &mut Builder, text: &str, table: &EstablishmentTable) -> Result<(), Located> {
    let entry = builder.establishment(
        cell(text, &table.uai, "uai"),
        cell(text, &table.name, "name"),
        cell(text, &table.city, "city"),
    )?;
    for url in &table.urls {
        builder.url(entry, cell(text, url, "urls"))?;
    }
    for sender in &table.sender {
        let at = locate(text, sender.span().start, None);
        let (allowed, at) = read_sender(text, sender.get_ref(), at)?;
        let role = sender.get_ref().role.get_ref().parse();
        let role = role.map_err(|e| cell(text, &sender.get_ref().role, "role").at.problem(e))?;
        builder.grant(entry, allowed, role, at)?;
    }
    Ok(())
}

/// The sender of a `[[establishment.sender]]` table: `address` (which may be
/// `@domain`, as in the CSV) or `domain`, exactly one of them.
fn read_sender(
    text: &str,
    table: &SenderTable,
    at: Location,
) -> Result<(Sender, Location), Located> {
    match (&table.address, &table.domain) {
        (Some(address), None) => {
            let at = cell(text, address, "address").at;
            let sender = Sender::parse(address.get_ref()).map_err(|e| at.problem(e))?;
            Ok((sender, at))
        }
        (None, Some(domain)) => {
            let at = cell(text, domain, "domain").at;
            let domain = Domain::parse(domain.get_ref()).map_err(|e| at.problem(e))?;
            Ok((Sender::Domain(domain), at))
        }
        (Some(_), Some(_)) => Err(at.problem(Problem::AddressAndDomain)),
        (None, None) => Err(at.problem(Problem::NoSender)),
    }
}

fn cell<'a>(text: &str, value: &'a Spanned<String>, field: &'static str) -> Cell<'a> {
    Cell {
        text: value.get_ref(),
        at: locate(text, value.span().start, Some(field)),
    }
}

/// The 1-based line and column (in characters) of a byte offset.
fn locate(text: &str, offset: usize, field: Option<&'static str>) -> Location {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        line: 1 + before.matches('\n').count(),
        column: Some(1 + before[line_start..].chars().count()),
        field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Role, Uai};

    const CLAVIER: &str = r#"
[[establishment]]
uai = "0420012k"
name = "Collège Jean Clavier"
city = "Saint-Étienne"
urls = ["https://jean-clavier.ent.auvergnerhonealpes.fr"]

[[establishment.sender]]
address = "CE.0420012K@ac-lyon.fr"
role = "direction"

[[establishment.sender]]
address = "@clavier.example.fr"
role = "Correspondant ENT"

[[establishment.sender]]
domain = "loire.fr"
role = "correspondant_maintenance"
"#;

    fn error(text: &str) -> (Location, String) {
        let located = parse(text).unwrap_err();
        (located.at, located.problem.to_string())
    }

    fn at(line: usize, column: usize, field: Option<&'static str>) -> Location {
        Location {
            line,
            column: Some(column),
            field,
        }
    }

    #[test]
    fn an_establishment_and_its_senders() {
        let registry = parse(CLAVIER).unwrap();
        let [entry] = registry.entries() else {
            panic!("one entry")
        };
        assert_eq!(entry.establishment.uai, Uai::parse("0420012K").unwrap());
        assert_eq!(entry.establishment.city, "Saint-Étienne");
        assert_eq!(entry.urls.len(), 1);
        let senders: Vec<(String, Role)> = entry
            .senders
            .iter()
            .map(|(sender, role)| (sender.to_string(), *role))
            .collect();
        assert_eq!(
            senders,
            [
                ("ce.0420012k@ac-lyon.fr".to_string(), Role::Direction),
                ("@clavier.example.fr".to_string(), Role::CorrespondantEnt),
                ("@loire.fr".to_string(), Role::CorrespondantMaintenance),
            ]
        );
    }

    #[test]
    fn a_wrong_check_letter_is_located_at_its_value() {
        let text = CLAVIER.replace("0420012k", "0420012A");
        assert_eq!(
            error(&text),
            (
                at(3, 7, Some("uai")),
                "`0420012A` is not a valid UAI code: its check letter should be K".into()
            )
        );
    }

    #[test]
    fn an_unknown_role_is_located_at_its_value() {
        let text = CLAVIER.replace("\"direction\"", "\"principal\"");
        let (at_, message) = error(&text);
        assert_eq!(at_, at(10, 8, Some("role")));
        assert!(message.starts_with("unknown role `principal`"), "{message}");
    }

    #[test]
    fn malformed_and_empty_senders_are_located() {
        let text = CLAVIER.replace("CE.0420012K@ac-lyon.fr", "ce.0420012k");
        assert_eq!(error(&text).0, at(9, 11, Some("address")));
        let text = CLAVIER.replace("CE.0420012K@ac-lyon.fr", "");
        assert_eq!(
            error(&text),
            (at(9, 11, Some("address")), "empty sender".into())
        );
        let text = CLAVIER.replace("domain = \"loire.fr\"", "domain = \"loire\"");
        let (at_, message) = error(&text);
        assert_eq!(at_, at(17, 10, Some("domain")));
        assert!(message.starts_with("malformed domain `loire`"), "{message}");
    }

    #[test]
    fn a_sender_is_an_address_or_a_domain() {
        let text = CLAVIER.replace(
            "domain = \"loire.fr\"",
            "domain = \"loire.fr\"\naddress = \"x@loire.fr\"",
        );
        // At the table's header.
        let (at_, message) = error(&text);
        assert_eq!(at_.line, 16);
        assert_eq!(message, "give `address` or `domain`, not both");
        let text = CLAVIER.replace("domain = \"loire.fr\"\n", "");
        let (at_, message) = error(&text);
        assert_eq!(at_.line, 16);
        assert_eq!(message, "a sender needs `address` or `domain`");
    }

    #[test]
    fn the_same_uai_twice_must_agree() {
        let text = format!(
            "{CLAVIER}\n[[establishment]]\nuai = \"0420012K\"\nname = \"Collège X\"\ncity = \"Saint-Étienne\"\n"
        );
        let (at_, message) = error(&text);
        assert_eq!(at_, at(22, 8, Some("name")));
        assert_eq!(
            message,
            "0420012K has name `Collège Jean Clavier` on line 3, not `Collège X`"
        );
    }

    #[test]
    fn syntax_and_unknown_keys_are_located() {
        let (at_, message) = error("[[establishment]]\nuai = \"0420012K\nname = \"X\"\n");
        assert_eq!(at_.line, 2);
        assert!(!message.is_empty());
        let text = CLAVIER.replace("urls =", "url =");
        let (at_, message) = error(&text);
        assert_eq!(at_.line, 6);
        assert!(message.contains("unknown field `url`"), "{message}");
        let (at_, message) = error("[[establishment]]\nuai = \"0420012K\"\nname = \"X\"\n");
        assert!(message.contains("missing field `city`"), "{message}");
        assert_eq!(at_.line, 1, "the table's header");
    }

    #[test]
    fn an_empty_file_is_not_a_registry() {
        assert_eq!(
            error("# nothing yet\n").1,
            "no establishment in the registry"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(locate("é = 1\nab", 8, None), at(2, 2, None));
        assert_eq!(locate("été", 2, None), at(1, 2, None));
        assert_eq!(locate("x", 99, None), at(1, 2, None));
    }
}
