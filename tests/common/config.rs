//! A test's configuration file, written from parts: each part is TOML, and
//! a part naming a table another part named adds to it (its keys win)
//! instead of repeating it, which TOML refuses. Arrays of tables
//! (`[[agents]]`, `[[mailboxes]]`) grow; any other value is replaced.

use std::path::Path;

use toml::{Table, Value};

/// The configuration being put together.
#[derive(Debug, Default, Clone)]
pub struct Config {
    table: Table,
}

impl Config {
    /// Adds one part; panics, naming it, on TOML that does not parse.
    pub fn add(&mut self, part: &str) -> &mut Self {
        let table: Table = part
            .parse()
            .unwrap_or_else(|e| panic!("a test's configuration part is not TOML: {e}\n{part}"));
        merge(&mut self.table, table);
        self
    }

    /// Writes the whole as one TOML file.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, toml::to_string(&self.table).unwrap()).unwrap();
    }
}

fn merge(into: &mut Table, part: Table) {
    for (key, value) in part {
        match (into.get_mut(&key), value) {
            (Some(Value::Table(old)), Value::Table(new)) => merge(old, new),
            (Some(Value::Array(old)), Value::Array(new)) if is_array_of_tables(&new) => {
                old.extend(new)
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn is_array_of_tables(array: &[Value]) -> bool {
    !array.is_empty() && array.iter().all(Value::is_table)
}
