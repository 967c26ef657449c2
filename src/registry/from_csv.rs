//! The CSV registry: one row per allowed sender, the establishment repeated
//! on each (a spreadsheet's natural shape: sort, filter, paste).
//!
//! ```csv
//! uai,name,city,url,sender,role
//! 0420012K,Collège Jean Clavier,Saint-Étienne,https://jean-clavier.ent.auvergnerhonealpes.fr,ce.0420012k@ac-lyon.fr,direction
//! 0420012K,,,,@clavier.example.fr,correspondant ENT
//! ```
//!
//! Columns are found by their header, in any order; `url` is optional. On
//! the later rows of an establishment, `name`, `city` and `url` may be left
//! empty; a non-empty `url` adds a web address. Lines starting with `#` are
//! comments. A header with more `;` than `,` makes `;` the delimiter: that is
//! what a French spreadsheet writes when it saves as CSV.

use csv::{Position, ReaderBuilder, StringRecord, Trim};

use super::load::{Builder, Cell, Located, Location, Problem};
use super::sender::Sender;
use super::Registry;

/// The columns, in the order the error message lists them.
const COLUMNS: [&str; 6] = ["uai", "name", "city", "url", "sender", "role"];

/// Where each column is in a row.
struct Columns {
    uai: usize,
    name: usize,
    city: usize,
    url: Option<usize>,
    sender: usize,
    role: usize,
}

impl Columns {
    fn find(headers: &StringRecord, at: Location) -> Result<Columns, Located> {
        let mut found: [Option<usize>; 6] = [None; 6];
        for (index, header) in headers.iter().enumerate() {
            let name = header.trim().to_lowercase();
            let known = COLUMNS.iter().position(|column| *column == name);
            let Some(slot) = known.map(|known| &mut found[known]) else {
                return Err(at.problem(Problem::Header(format!(
                    "unknown column `{header}`; the columns are {}",
                    COLUMNS.join(", ")
                ))));
            };
            if slot.replace(index).is_some() {
                return Err(at.problem(Problem::Header(format!("column `{name}` given twice"))));
            }
        }
        let required = |column: usize| {
            found[column].ok_or_else(|| {
                at.problem(Problem::Header(format!(
                    "missing column `{}`",
                    COLUMNS[column]
                )))
            })
        };
        Ok(Columns {
            uai: required(0)?,
            name: required(1)?,
            city: required(2)?,
            url: found[3],
            sender: required(4)?,
            role: required(5)?,
        })
    }
}

/// Reads a CSV registry.
pub(super) fn parse(text: &str) -> Result<Registry, Located> {
    let mut reader = ReaderBuilder::new()
        .delimiter(delimiter(text))
        .comment(Some(b'#'))
        .trim(Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| syntax(text, e))?.clone();
    let header_line = line_of(text, headers.position());
    let columns = Columns::find(&headers, Location::line(header_line))?;
    let mut builder = Builder::default();
    for record in reader.records() {
        let record = record.map_err(|e| syntax(text, e))?;
        let line = line_of(text, record.position());
        add(&mut builder, &columns, &record, line)?;
    }
    builder.finish()
}

fn add(
    builder: &mut Builder,
    columns: &Columns,
    record: &StringRecord,
    line: usize,
) -> Result<(), Located> {
    let cell = |index: usize, field: &'static str| Cell {
        text: record.get(index).unwrap_or(""),
        at: Location {
            line,
            column: None,
            field: Some(field),
        },
    };
    let entry = builder.establishment(
        cell(columns.uai, "uai"),
        cell(columns.name, "name"),
        cell(columns.city, "city"),
    )?;
    if let Some(url) = columns.url.map(|index| cell(index, "url")) {
        if !url.text.is_empty() {
            builder.url(entry, url)?;
        }
    }
    let sender = cell(columns.sender, "sender");
    let allowed = Sender::parse(sender.text).map_err(|e| sender.at.problem(e))?;
    let role = cell(columns.role, "role");
    let role = role.text.parse().map_err(|e| role.at.problem(e))?;
    builder.grant(entry, allowed, role, sender.at)
}

/// `;` when the header line has more of them than commas, else `,`.
fn delimiter(text: &str) -> u8 {
    let header = text
        .trim_start_matches('\u{feff}')
        .lines()
        .find(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .unwrap_or("");
    if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    }
}

/// The line a record starts on. The reader's position is where it started
/// reading, before the blank and comment lines it skipped: skip them too.
fn line_of(text: &str, position: Option<&Position>) -> usize {
    let Some(position) = position else {
        return 1;
    };
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let line = usize::try_from(position.line()).unwrap_or(usize::MAX);
    let skipped = text
        .get(start..)
        .unwrap_or("")
        .split('\n')
        .take_while(|row| row.trim_end_matches('\r').is_empty() || row.starts_with('#'))
        .count();
    line.saturating_add(skipped)
}

/// A row the CSV reader could not read, at the line it names.
fn syntax(text: &str, error: csv::Error) -> Located {
    let line = line_of(text, error.position());
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => error.to_string(),
    };
    Location::line(line).problem(Problem::Syntax(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Role, Uai};

    const CLAVIER: &str = "\
# Loire, collèges
uai,name,city,url,sender,role
0420012K,Collège Jean Clavier,Saint-Étienne,https://jean-clavier.ent.auvergnerhonealpes.fr,ce.0420012k@ac-lyon.fr,direction

0420012k,,,,@clavier.example.fr,Correspondant ENT
0420012K,Collège Jean Clavier,,https://clavier.example.fr/,a.martin@ac-lyon.fr,gestionnaire réseau
";

    fn error(text: &str) -> (Location, String) {
        let located = parse(text).unwrap_err();
        (located.at, located.problem.to_string())
    }

    fn at(line: usize, field: &'static str) -> Location {
        Location {
            line,
            column: None,
            field: Some(field),
        }
    }

    #[test]
    fn rows_of_one_establishment_make_one_entry() {
        let registry = parse(CLAVIER).unwrap();
        let [entry] = registry.entries() else {
            panic!("one entry")
        };
        assert_eq!(entry.establishment.uai, Uai::parse("0420012K").unwrap());
        assert_eq!(entry.establishment.name, "Collège Jean Clavier");
        assert_eq!(entry.urls.len(), 2);
        let roles: Vec<Role> = entry.senders.iter().map(|(_, role)| *role).collect();
        assert_eq!(
            roles,
            [
                Role::Direction,
                Role::CorrespondantEnt,
                Role::GestionnaireReseau
            ]
        );
    }

    #[test]
    fn french_spreadsheet_exports_are_read() {
        let text = "\u{feff}UAI;Name;City;Sender;Role\r\n\
                    0420012K;Collège Jean Clavier;Saint-Étienne, Loire;ce.0420012k@ac-lyon.fr;direction\r\n";
        let registry = parse(text).unwrap();
        assert_eq!(
            registry.entries()[0].establishment.city,
            "Saint-Étienne, Loire"
        );
    }

    #[test]
    fn columns_are_found_by_name() {
        let text = "role,sender,city,name,uai\ndirection,x@ac-lyon.fr,Roanne,Lycée X,0420013L\n";
        let registry = parse(text).unwrap();
        assert_eq!(registry.entries()[0].establishment.name, "Lycée X");
        let (at_, message) = error("uai,name,city,sender\n");
        assert_eq!(at_, Location::line(1));
        assert_eq!(message, "missing column `role`");
        let (at_, message) = error("# c\nuai,nom,city,sender,role\n");
        assert_eq!(at_, Location::line(2));
        assert!(message.starts_with("unknown column `nom`"), "{message}");
        let (_, message) = error("uai,name,city,sender,role,UAI\n");
        assert_eq!(message, "column `uai` given twice");
    }

    #[test]
    fn each_problem_names_its_line_and_field() {
        let bad_letter = CLAVIER.replace("0420012k,", "0420012A,");
        let bad_role = CLAVIER.replace("Correspondant ENT", "principal");
        let empty_sender = CLAVIER.replace("@clavier.example.fr", "");
        let bad_domain = CLAVIER.replace("@clavier.example.fr", "@clavier");
        let bad_address = CLAVIER.replace("a.martin@ac-lyon.fr", "a.martin");
        let other_name = CLAVIER.replace(",Collège Jean Clavier,,", ",Collège Jules Vallès,,");
        let bad_url = CLAVIER.replace("https://clavier.example.fr/", "clavier.example.fr");
        for (text, at_, start) in [
            (
                &bad_letter,
                at(5, "uai"),
                "`0420012A` is not a valid UAI code",
            ),
            (&bad_role, at(5, "role"), "unknown role `principal`"),
            (&empty_sender, at(5, "sender"), "empty sender"),
            (&bad_domain, at(5, "sender"), "malformed domain `@clavier`"),
            (
                &bad_address,
                at(6, "sender"),
                "malformed address `a.martin`",
            ),
            (
                &other_name,
                at(6, "name"),
                "0420012K has name `Collège Jean Clavier` on line 3",
            ),
            (&bad_url, at(6, "url"), "malformed URL `clavier.example.fr`"),
        ] {
            let (found, message) = error(text);
            assert_eq!(found, at_, "{message}");
            assert!(message.starts_with(start), "{message}");
        }
    }

    #[test]
    fn a_short_row_is_a_syntax_error_on_its_line() {
        let text = format!("{CLAVIER}0420012K,Collège Jean Clavier\n");
        assert_eq!(
            error(&text),
            (Location::line(7), "2 fields where the header has 6".into())
        );
    }

    #[test]
    fn a_header_alone_is_not_a_registry() {
        assert_eq!(
            error("uai,name,city,url,sender,role\n").1,
            "no establishment in the registry"
        );
        assert_eq!(error("").1, "missing column `uai`");
    }

    #[test]
    fn lines_count_comments_blank_lines_and_a_byte_order_mark() {
        let text = "\u{feff}# registry\r\n\r\nuai,name,city,sender,role\r\n# a\r\n\r\n\
                    0420012A,X,Y,a@b.fr,direction\r\n";
        assert_eq!(error(text).0, at(6, "uai"));
        let text =
            "uai,name,city,sender,role\n0420012K,\"Collège\nJean Clavier\",Y,a@b.fr,direction\n\
                    0420012K,,,b@b.fr,chef\n";
        assert_eq!(error(text).0, at(4, "role"));
    }

    #[test]
    fn the_delimiter_is_sniffed_from_the_header() {
        assert_eq!(delimiter("# a;b;c\nuai,name;x,city\n"), b',');
        assert_eq!(delimiter("uai;name;city,x;sender;role"), b';');
        assert_eq!(delimiter(""), b',');
    }
}
