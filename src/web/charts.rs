//! The indicators' charts as SVG documents, drawn here (no script, no
//! external resource) and served as images; every text in them is escaped.
//! Pure: numbers in, text out.

use std::fmt::Write as _;

/// Text made safe inside an XML element or attribute.
pub fn xml_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Colours with at least 4.5:1 contrast on white.
pub const COLOURS: [&str; 4] = ["#a50e0e", "#8a4b00", "#0b4f9c", "#3d3d3d"];

/// One series of a bar chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: &'a [f64],
}

fn document(title: &str, width: usize, height: usize, body: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{title}\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>{title}</title>\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>{body}</svg>",
        title = xml_escaped(title)
    )
}

/// Vertical bars, one group per label, the series stacked.
pub fn stacked_bars(title: &str, labels: &[String], series: &[Series<'_>]) -> String {
    let (left, top, bar, gap, plot_height) = (40usize, 30usize, 22usize, 8usize, 160usize);
    let width = (left + labels.len() * (bar + gap) + 20).max(320);
    let height = top + plot_height + 60;
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let mut body = String::new();
    let base = top + plot_height;
    let _ = write!(
        body,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>",
        width - 10,
        left - 4,
        top + 4,
        max,
        left - 4
    );
    for (i, label) in labels.iter().enumerate() {
        let x = left + gap + i * (bar + gap);
        let mut y = base as f64;
        for (s, serie) in series.iter().enumerate() {
            let value = serie.values.get(i).copied().unwrap_or(0.0);
            if value <= 0.0 {
                continue;
            }
            let h = value / max * plot_height as f64;
            y -= h;
            let _ = write!(
                body,
                "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{} {} : {}</title></rect>",
                COLOURS[s % COLOURS.len()],
                xml_escaped(label),
                xml_escaped(serie.name),
                value
            );
        }
        let _ = write!(
            body,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-45 {} {})\">{}</text>",
            x + bar / 2,
            base + 14,
            x + bar / 2,
            base + 14,
            xml_escaped(label)
        );
    }
    legend(&mut body, series.iter().map(|s| s.name), left, 14);
    document(title, width, height, &body)
}

/// Horizontal bars, one per row, with the value written after each.
pub fn horizontal_bars(title: &str, rows: &[(String, f64)], unit: &str) -> String {
    let (left, row_height, bar_width) = (260usize, 24usize, 300usize);
    let width = left + bar_width + 120;
    let height = 20 + rows.len().max(1) * row_height + 10;
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let mut body = String::new();
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = 20 + i * row_height;
        let w = value / max * bar_width as f64;
        let _ = write!(
            body,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{:.1} {}</text>",
            left - 6,
            y + 12,
            xml_escaped(label),
            COLOURS[2],
            left as f64 + w + 4.0,
            y + 12,
            value,
            xml_escaped(unit)
        );
    }
    document(title, width, height, &body)
}

fn legend<'a>(body: &mut String, names: impl Iterator<Item = &'a str>, x: usize, y: usize) {
    let mut at = x;
    for (i, name) in names.enumerate() {
        let _ = write!(
            body,
            "<rect x=\"{at}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{y}\">{}</text>",
            y - 9,
            COLOURS[i % COLOURS.len()],
            at + 14,
            xml_escaped(name)
        );
        at += 20 + name.chars().count() * 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_texts_are_escaped() {
        let svg = horizontal_bars("<b>", &[("\"><script>".to_string(), 2.0)], "h");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
        assert!(svg.contains("&quot;&gt;&lt;script&gt;"));
        let svg = stacked_bars(
            "t",
            &["2026-S48".to_string()],
            &[Series {
                name: "majeure",
                values: &[3.0],
            }],
        );
        assert!(svg.contains("2026-S48 majeure : 3"));
    }
}
