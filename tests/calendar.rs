//! `guichet calendar show YEAR` as a site checks its calendar: the public
//! holidays of its `calendar`, its zone's school holidays and its own
//! closures, one a line; a bad zone or year refused with exit 2.

mod common;

use common::{guichet, stderr, stdout};

fn show(config: &str, year: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guichet.toml");
    std::fs::write(&path, config).unwrap();
    guichet()
        .arg("--config")
        .arg(&path)
        .args(["calendar", "show", year])
        .env("GUICHET_LOG", "warn")
        .output()
        .unwrap()
}

const ALSACE_ZONE_B: &str = r#"
[sla.business_hours]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "08:30"
end = "18:00"
calendar = "alsace-moselle"
zone = "B"
holidays = ["2026-05-15"]
[[sla.business_hours.school_holidays.B]]
from = "2026-02-21"
to = "2026-03-08"
[[sla.business_hours.school_holidays.A]]
from = "2026-02-07"
to = "2026-02-22"
"#;

#[test]
fn the_closed_days_of_a_year_are_listed_with_why() {
    let output = show(ALSACE_ZONE_B, "2026");
    let shown = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    for line in [
        "2026-04-03  Fri  Vendredi saint",
        "2026-05-14  Thu  Ascension",
        "2026-05-15  Fri  fermeture (sla.business_hours.holidays)",
        "2026-12-26  Sat  Saint-Étienne (closed that weekday anyway)",
        "2026-02-23  Mon  vacances scolaires, zone B",
        "2026-03-06  Fri  vacances scolaires, zone B",
    ] {
        assert!(shown.contains(line), "{line:?} missing from:\n{shown}");
    }
    assert!(
        !shown.contains("2026-02-09"),
        "zone A is not ours:\n{shown}"
    );
    // 13 public holidays, the bridge, 16 days of winter holidays.
    assert!(shown.starts_with("30 closed day(s) in 2026"), "{shown}");
}

#[test]
fn a_zone_without_ranges_or_a_bad_year_is_refused() {
    let output = show(
        &ALSACE_ZONE_B.replace("zone = \"B\"", "zone = \"C\""),
        "2026",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("zone \"C\""),
        "{}",
        stderr(&output)
    );
    let output = show("", "1200");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("1200"), "{}", stderr(&output));
}
