//! A ZIP archive of stored (uncompressed) files, for `privacy export
//! --out FILE.zip`: what every system's archive tool opens. Names are
//! UTF-8 (flag bit 11); no ZIP64, so an archive stays under 4 GiB and
//! 65,535 files (an error beyond).

use std::io::{self, Write};

use chrono::{Datelike, Timelike};

/// Files added one by one, then written with [`Zip::finish`].
pub struct Zip<W: Write> {
    out: W,
    written: u64,
    central: Vec<u8>,
    entries: u16,
    time: u16,
    date: u16,
}

fn too_big(what: &str) -> io::Error {
    io::Error::other(format!("the export is too big for a ZIP archive ({what})"))
}

impl<W: Write> Zip<W> {
    /// An archive whose files are dated `at` (UTC).
    pub fn new(out: W, at: chrono::DateTime<chrono::Utc>) -> Self {
        let year = u16::try_from(at.year().clamp(1980, 2107) - 1980).unwrap_or(0);
        Self {
            out,
            written: 0,
            central: Vec::new(),
            entries: 0,
            time: ((at.hour() as u16) << 11)
                | ((at.minute() as u16) << 5)
                | (at.second() as u16 / 2),
            date: (year << 9) | ((at.month() as u16) << 5) | at.day() as u16,
        }
    }

    /// Adds `name` (a relative path with `/`) holding `data`.
    pub fn add(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let offset = u32::try_from(self.written).map_err(|_| too_big("4 GiB"))?;
        let size = u32::try_from(data.len()).map_err(|_| too_big("a file over 4 GiB"))?;
        let name_len = u16::try_from(name.len()).map_err(|_| too_big("a file name"))?;
        self.entries = self
            .entries
            .checked_add(1)
            .ok_or_else(|| too_big("65,535 files"))?;
        let crc = crc32fast::hash(data);
        let mut local = Vec::with_capacity(30 + name.len());
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        self.common(&mut local, crc, size, name_len);
        local.extend_from_slice(name.as_bytes());
        self.out.write_all(&local)?;
        self.out.write_all(data)?;
        self.written += local.len() as u64 + data.len() as u64;

        let mut central = Vec::with_capacity(46 + name.len());
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&0x0314u16.to_le_bytes()); // made by: Unix, 2.0
        self.common(&mut central, crc, size, name_len);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&(0o100600u32 << 16).to_le_bytes()); // -rw-------
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        self.central.extend_from_slice(&central);
        Ok(())
    }

    /// The fields local and central headers share, from "version needed".
    fn common(&self, header: &mut Vec<u8>, crc: u32, size: u32, name_len: u16) {
        header.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        header.extend_from_slice(&0x0800u16.to_le_bytes()); // UTF-8 names
        header.extend_from_slice(&0u16.to_le_bytes()); // stored
        header.extend_from_slice(&self.time.to_le_bytes());
        header.extend_from_slice(&self.date.to_le_bytes());
        header.extend_from_slice(&crc.to_le_bytes());
        header.extend_from_slice(&size.to_le_bytes());
        header.extend_from_slice(&size.to_le_bytes());
        header.extend_from_slice(&name_len.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes()); // extra field
    }

    /// Writes the central directory; the archive is complete.
    pub fn finish(mut self) -> io::Result<W> {
        let offset = u32::try_from(self.written).map_err(|_| too_big("4 GiB"))?;
        let size = u32::try_from(self.central.len()).map_err(|_| too_big("4 GiB"))?;
        self.out.write_all(&self.central)?;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&self.entries.to_le_bytes());
        end.extend_from_slice(&self.entries.to_le_bytes());
        end.extend_from_slice(&size.to_le_bytes());
        end.extend_from_slice(&offset.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unzip_reads_back_what_was_added() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.zip");
        let file = std::fs::File::create(&path).unwrap();
        let mut zip = Zip::new(file, chrono::Utc::now());
        zip.add("export.json", b"{}").unwrap();
        zip.add("mails/1.eml", b"Subject: \xc3\xa9\r\n\r\nbody")
            .unwrap();
        zip.finish().unwrap();
        let Ok(listed) = std::process::Command::new("unzip")
            .arg("-t")
            .arg(&path)
            .output()
        else {
            eprintln!("skipping: no unzip here");
            return;
        };
        let said = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.status.success(), "{said}");
        assert!(
            said.contains("mails/1.eml") && said.contains("No errors"),
            "{said}"
        );
    }
}
