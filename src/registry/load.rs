//! Reading a registry file: the format by its extension, every problem
//! located by file, line and (where the format tells) column or field, so
//! that a broken file is refused with a message its author can act on.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::sender::{Sender, SenderError, UnknownRole};
use super::site::Site;
use super::uai::{Uai, UaiError};
use super::{Entry, Establishment, Registry, Role};

/// A registry that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {}: unknown format; name the file *.toml or *.csv", path.display())]
    UnknownFormat { path: PathBuf },
    /// The problem is boxed to keep `Result`s small: it is the rare path.
    #[error("{}:{at}: {problem}", path.display())]
    Invalid {
        path: PathBuf,
        at: Location,
        problem: Box<Problem>,
    },
}

/// Where in a registry file a problem is: 1-based line, and the column or
/// the field when the format tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: Option<usize>,
    pub field: Option<&'static str>,
}

impl Location {
    pub(super) fn line(line: usize) -> Self {
        Location {
            line,
            column: None,
            field: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        if let Some(field) = self.field {
            write!(f, ": `{field}`")?;
        }
        Ok(())
    }
}

/// What is wrong at a location of a registry file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    Syntax(String),
    #[error("not UTF-8 text; save the file as UTF-8 (in a spreadsheet: \"CSV UTF-8\")")]
    NotUtf8,
    #[error("{0}")]
    Header(String),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Uai(#[from] UaiError),
    #[error("{uai} has {what} `{first}` on line {line}, not `{found}`")]
    Conflict {
        uai: Uai,
        what: &'static str,
        first: String,
        line: usize,
        found: String,
    },
    #[error(transparent)]
    Role(#[from] UnknownRole),
    #[error(transparent)]
    Sender(#[from] SenderError),
    #[error("give `address` or `domain`, not both")]
    AddressAndDomain,
    #[error("a sender needs `address` or `domain`")]
    NoSender,
    #[error("{sender} is already {role} for {uai} on line {line}")]
    RoleConflict {
        sender: String,
        role: Role,
        uai: Uai,
        line: usize,
    },
    #[error("malformed URL `{url}`: {why}")]
    Url { url: String, why: String },
    #[error("no establishment in the registry")]
    Empty,
}

/// A problem and where it is, before the file's path is known to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located {
    pub(super) at: Location,
    pub(super) problem: Problem,
}

impl Location {
    pub(super) fn problem(self, problem: impl Into<Problem>) -> Located {
        Located {
            at: self,
            problem: problem.into(),
        }
    }
}

/// One value read from a file and where it was.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cell<'a> {
    pub(super) text: &'a str,
    pub(super) at: Location,
}

impl<'a> Cell<'a> {
    fn value(self) -> &'a str {
        self.text.trim()
    }
}

/// The file formats, told apart by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Toml,
    Csv,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "toml" => Some(Format::Toml),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Reads and checks the registry file at `path`.
pub(super) fn load(path: &Path) -> Result<Registry, RegistryError> {
    let format = Format::of(path).ok_or_else(|| RegistryError::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(format, &bytes).map_err(|located| RegistryError::Invalid {
        path: path.to_path_buf(),
        at: located.at,
        problem: Box::new(located.problem),
    })
}

fn parse(format: Format, bytes: &[u8]) -> Result<Registry, Located> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Location::line(line).problem(Problem::NotUtf8)
    })?;
    match format {
        Format::Toml => super::from_toml::parse(text),
        Format::Csv => super::from_csv::parse(text),
    }
}

/// Collects establishments and their senders from the lines of a file,
/// whatever its format: one establishment may be given on several lines
/// (a CSV row per sender), provided they agree on its name and city.
#[derive(Debug, Default)]
pub(super) struct Builder {
    entries: Vec<Entry>,
    /// The entry of each UAI and the line that named it.
    known: HashMap<Uai, (usize, usize)>,
    /// The role of each sender of each entry, and the line that gave it.
    granted: HashMap<(usize, Sender), (Role, usize)>,
}

impl Builder {
    /// The entry for `uai`: created on its first line, which must name the
    /// establishment and its city; later lines may leave them empty or
    /// repeat them, not change them.
    pub(super) fn establishment(
        &mut self,
        uai: Cell,
        name: Cell,
        city: Cell,
    ) -> Result<usize, Located> {
        if uai.value().is_empty() {
            return Err(uai.at.problem(Problem::Missing("UAI code")));
        }
        let code = Uai::parse(uai.text).map_err(|e| uai.at.problem(e))?;
        match self.known.get(&code) {
            Some(&(entry, line)) => {
                let known = &self.entries[entry].establishment;
                agree(code, "name", &known.name, name, line)?;
                agree(code, "city", &known.city, city, line)?;
                Ok(entry)
            }
            None => self.create(code, name, city, uai.at.line),
        }
    }

    fn create(&mut self, uai: Uai, name: Cell, city: Cell, line: usize) -> Result<usize, Located> {
        for (cell, what) in [(name, "name"), (city, "city")] {
            if cell.value().is_empty() {
                return Err(cell.at.problem(Problem::Missing(what)));
            }
        }
        self.entries.push(Entry {
            establishment: Establishment {
                uai,
                name: name.value().to_string(),
                city: city.value().to_string(),
            },
            urls: Vec::new(),
            senders: Vec::new(),
        });
        let entry = self.entries.len() - 1;
        self.known.insert(uai, (entry, line));
        Ok(entry)
    }

    /// Adds a web address of the entry's establishment.
    pub(super) fn url(&mut self, entry: usize, url: Cell) -> Result<(), Located> {
        let parsed = Site::check(url.text).map_err(|why| {
            url.at.problem(Problem::Url {
                url: url.value().to_string(),
                why,
            })
        })?;
        let urls = &mut self.entries[entry].urls;
        if !urls.contains(&parsed) {
            urls.push(parsed);
        }
        Ok(())
    }

    /// Lets `sender` write for the entry's establishment as `role`. The same
    /// sender given twice with the same role is harmless; with another role,
    /// one of the two lines is wrong.
    pub(super) fn grant(
        &mut self,
        entry: usize,
        sender: Sender,
        role: Role,
        at: Location,
    ) -> Result<(), Located> {
        match self.granted.get(&(entry, sender.clone())) {
            Some(&(known, _)) if known == role => Ok(()),
            Some(&(known, line)) => Err(at.problem(Problem::RoleConflict {
                sender: sender.to_string(),
                role: known,
                uai: self.entries[entry].establishment.uai,
                line,
            })),
            None => {
                self.granted
                    .insert((entry, sender.clone()), (role, at.line));
                self.entries[entry].senders.push((sender, role));
                Ok(())
            }
        }
    }

    /// The registry, unless the file held no establishment at all (an
    /// empty file saved by mistake must not refuse every sender).
    pub(super) fn finish(self) -> Result<Registry, Located> {
        if self.entries.is_empty() {
            return Err(Location::line(1).problem(Problem::Empty));
        }
        Ok(Registry::new(self.entries))
    }
}

/// A later line's name or city must be empty or the one given first.
fn agree(
    uai: Uai,
    what: &'static str,
    first: &str,
    cell: Cell,
    line: usize,
) -> Result<(), Located> {
    let found = cell.value();
    if found.is_empty() || found == first {
        Ok(())
    } else {
        Err(cell.at.problem(Problem::Conflict {
            uai,
            what,
            first: first.to_string(),
            line,
            found: found.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, field: &'static str) -> Location {
        Location {
            line,
            column: None,
            field: Some(field),
        }
    }

    fn cell<'a>(text: &'a str, line: usize, field: &'static str) -> Cell<'a> {
        Cell {
            text,
            at: at(line, field),
        }
    }

    fn clavier(builder: &mut Builder, line: usize, name: &str) -> Result<usize, Located> {
        builder.establishment(
            cell("0420012K", line, "uai"),
            cell(name, line, "name"),
            cell("", line, "city"),
        )
    }

    #[test]
    fn locations_read_like_compiler_messages() {
        let error = RegistryError::Invalid {
            path: "deploy/registry.csv".into(),
            at: at(4, "role"),
            problem: Box::new(Problem::Role(UnknownRole("principal".into()))),
        };
        assert!(error
            .to_string()
            .starts_with("deploy/registry.csv:4: `role`: unknown role `principal`"));
        let at = Location {
            line: 12,
            column: Some(8),
            field: None,
        };
        assert_eq!(at.to_string(), "12:8");
    }

    #[test]
    fn the_first_line_of_an_establishment_names_it() {
        let mut builder = Builder::default();
        let error = builder
            .establishment(
                cell("0420012K", 2, "uai"),
                cell("Collège Jean Clavier", 2, "name"),
                cell(" ", 2, "city"),
            )
            .unwrap_err();
        assert_eq!(error, at(2, "city").problem(Problem::Missing("city")));
        let error = builder
            .establishment(
                cell(" ", 3, "uai"),
                cell("X", 3, "name"),
                cell("Y", 3, "city"),
            )
            .unwrap_err();
        assert_eq!(error, at(3, "uai").problem(Problem::Missing("UAI code")));
    }

    #[test]
    fn later_lines_may_omit_or_repeat_the_name_not_change_it() {
        let mut builder = Builder::default();
        let first = builder
            .establishment(
                cell("0420012K", 2, "uai"),
                cell("Collège Jean Clavier", 2, "name"),
                cell("Saint-Étienne", 2, "city"),
            )
            .unwrap();
        assert_eq!(clavier(&mut builder, 3, "").unwrap(), first);
        assert_eq!(
            clavier(&mut builder, 4, " Collège Jean Clavier ").unwrap(),
            first
        );
        let error = clavier(&mut builder, 5, "Collège Jules Vallès").unwrap_err();
        assert_eq!(error.at, at(5, "name"));
        assert_eq!(
            error.problem.to_string(),
            "0420012K has name `Collège Jean Clavier` on line 2, not `Collège Jules Vallès`"
        );
    }

    #[test]
    fn a_sender_has_one_role_per_establishment() {
        let mut builder = Builder::default();
        let entry = builder
            .establishment(
                cell("0420012k", 2, "uai"),
                cell("Collège Jean Clavier", 2, "name"),
                cell("Saint-Étienne", 2, "city"),
            )
            .unwrap();
        let sender = Sender::parse("ce.0420012k@ac-lyon.fr").unwrap();
        builder
            .grant(entry, sender.clone(), Role::Direction, at(2, "sender"))
            .unwrap();
        builder
            .grant(entry, sender.clone(), Role::Direction, at(3, "sender"))
            .unwrap();
        let error = builder
            .grant(entry, sender, Role::CorrespondantEnt, at(4, "sender"))
            .unwrap_err();
        assert_eq!(
            error.problem.to_string(),
            "ce.0420012k@ac-lyon.fr is already direction for 0420012K on line 2"
        );
        let registry = builder.finish().unwrap();
        assert_eq!(registry.entries()[0].senders.len(), 1);
    }

    #[test]
    fn urls_are_checked_and_kept_once() {
        let mut builder = Builder::default();
        let entry = builder
            .establishment(
                cell("0420012K", 2, "uai"),
                cell("Collège Jean Clavier", 2, "name"),
                cell("Saint-Étienne", 2, "city"),
            )
            .unwrap();
        let ent = "https://jean-clavier.ent.auvergnerhonealpes.fr";
        builder.url(entry, cell(ent, 2, "url")).unwrap();
        builder.url(entry, cell(ent, 3, "url")).unwrap();
        let error = builder
            .url(entry, cell("jean-clavier.fr", 4, "url"))
            .unwrap_err();
        assert!(matches!(error.problem, Problem::Url { .. }), "{error:?}");
        assert_eq!(builder.finish().unwrap().entries()[0].urls.len(), 1);
    }

    #[test]
    fn an_empty_registry_is_refused() {
        assert_eq!(
            Builder::default().finish().unwrap_err(),
            Location::line(1).problem(Problem::Empty)
        );
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(Format::of(Path::new("a/registry.TOML")), Some(Format::Toml));
        assert_eq!(Format::of(Path::new("registry.csv")), Some(Format::Csv));
        assert_eq!(Format::of(Path::new("registry.txt")), None);
        assert_eq!(Format::of(Path::new("registry")), None);
        let error = load(Path::new("/nonexistent/registry.yaml")).unwrap_err();
        assert!(matches!(error, RegistryError::UnknownFormat { .. }));
        let error = load(Path::new("/nonexistent/registry.csv")).unwrap_err();
        assert!(matches!(error, RegistryError::Read { .. }));
    }

    #[test]
    fn text_that_is_not_utf8_is_located() {
        // "Collège" saved in Windows-1252 by a spreadsheet, on line 2.
        let bytes = b"uai,name,city,sender,role\n0420012K,Coll\xe8ge,X,a@b.fr,direction\n";
        let error = parse(Format::Csv, bytes).unwrap_err();
        assert_eq!(error, Location::line(2).problem(Problem::NotUtf8));
    }
}
