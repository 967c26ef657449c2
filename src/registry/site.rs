//! Establishment web addresses, and finding them in the text of a mail.
//!
//! A mail names a site loosely: with or without `https://` or `www.`, with a
//! page after it, followed by a full stop. A site is therefore reduced to
//! its host without `www.` and its path, both lower-cased, and a mention
//! matches when it has the same host and a path under the site's path.

use std::sync::LazyLock;

use regex::Regex;
use url::Url;

/// A web address reduced to what identifies it in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    host: String,
    /// Without its trailing `/`: empty for a whole host.
    path: String,
}

impl Site {
    /// Checks a configured establishment URL: `http` or `https`, with a host.
    pub(crate) fn check(text: &str) -> Result<Url, String> {
        let url = Url::parse(text.trim()).map_err(|e| e.to_string())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("only http and https addresses name a site".into());
        }
        if url.host_str().is_none() {
            return Err("no host".into());
        }
        Ok(url)
    }

    /// The site of a checked URL. (An unchecked URL without a host would
    /// give a site that no mention matches, since every mention has one.)
    pub(crate) fn of(url: &Url) -> Site {
        Site::new(url.host_str().unwrap_or(""), url.path())
    }

    fn new(host: &str, path: &str) -> Site {
        let host = host.to_lowercase();
        let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
        let path = path.trim_end_matches('/').to_lowercase();
        Site { host, path }
    }

    /// Whether `mention` is this site or a page under it.
    pub(crate) fn covers(&self, mention: &Site) -> bool {
        self.host == mention.host
            && mention
                .path
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
    }
}

/// A host name (two labels or more), an optional port and path, with or
/// without a scheme in front.
static SITE_MENTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9])(?::[0-9]{1,5})?(/[^\s<>"'()\[\]{}]*)?"#,
    )
    .expect("constant regex")
});

/// Punctuation that ends a sentence rather than a path.
const TRAILING_PUNCTUATION: &[char] = &['.', ',', ';', ':', '!', '?'];

/// The sites a text mentions. The domain of a mail address
/// (`jean@ac-lyon.fr`) is not a mention of a site.
pub(crate) fn find_sites(text: &str) -> Vec<Site> {
    SITE_MENTION
        .captures_iter(text)
        .filter(|caps| {
            let start = caps.get(0).map_or(0, |m| m.start());
            !text[..start].ends_with('@')
        })
        .filter_map(|caps| {
            let host = caps.get(1)?.as_str();
            let path = caps.get(2).map_or("", |m| m.as_str());
            Some(Site::new(host, path.trim_end_matches(TRAILING_PUNCTUATION)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(url: &str) -> Site {
        Site::of(&Site::check(url).unwrap())
    }

    fn covered(url: &str, text: &str) -> bool {
        let site = site(url);
        find_sites(text).iter().any(|mention| site.covers(mention))
    }

    #[test]
    fn configured_urls_are_reduced_to_host_and_path() {
        let url = Site::check(" https://WWW.Exemple.fr/Etab/Clavier/ ").unwrap();
        assert_eq!(url.as_str(), "https://www.exemple.fr/Etab/Clavier/");
        let reduced = Site::of(&url);
        assert_eq!(reduced.host, "exemple.fr");
        assert_eq!(reduced.path, "/etab/clavier");
        assert_eq!(
            site("https://jean-clavier.ent.auvergnerhonealpes.fr").path,
            ""
        );
    }

    #[test]
    fn only_web_urls_with_a_host_are_sites() {
        assert!(Site::check("jean-clavier.ent.auvergnerhonealpes.fr").is_err());
        assert!(Site::check("ftp://exemple.fr").is_err());
        assert!(Site::check("mailto:jean@exemple.fr").is_err());
        assert!(Site::check("https://").is_err());
    }

    #[test]
    fn a_site_is_found_however_it_is_written() {
        let ent = "https://jean-clavier.ent.auvergnerhonealpes.fr";
        for text in [
            "Sur https://jean-clavier.ent.auvergnerhonealpes.fr, rien ne marche",
            "sur http://JEAN-CLAVIER.ent.auvergnerhonealpes.fr/sg.do?PROC=X",
            "L'ENT jean-clavier.ent.auvergnerhonealpes.fr.",
            "(www.jean-clavier.ent.auvergnerhonealpes.fr)",
            "<https://jean-clavier.ent.auvergnerhonealpes.fr:443/>",
        ] {
            assert!(covered(ent, text), "{text}");
        }
    }

    #[test]
    fn another_host_or_a_mail_domain_is_not_the_site() {
        let ent = "https://jean-clavier.ent.auvergnerhonealpes.fr";
        assert!(!covered(ent, "https://ent.auvergnerhonealpes.fr"));
        assert!(!covered(
            ent,
            "https://jean-clavier.ent.auvergnerhonealpes.fr.evil.test"
        ));
        assert!(!covered(ent, "x-jean-clavier.ent.auvergnerhonealpes.fr"));
        assert!(!covered(
            "https://ac-lyon.fr",
            "écrit par jean.dupont@ac-lyon.fr"
        ));
        assert!(covered("https://ac-lyon.fr", "voir ac-lyon.fr"));
    }

    #[test]
    fn a_site_with_a_path_covers_only_its_pages() {
        let site = "https://www.exemple.fr/etab/clavier";
        assert!(covered(site, "https://exemple.fr/etab/clavier"));
        assert!(covered(site, "exemple.fr/Etab/Clavier/accueil."));
        assert!(covered(site, "exemple.fr/etab/clavier?page=2"));
        assert!(!covered(site, "exemple.fr/etab/clavier-2"));
        assert!(!covered(site, "exemple.fr/etab"));
        assert!(!covered(site, "https://exemple.fr"));
    }
}
