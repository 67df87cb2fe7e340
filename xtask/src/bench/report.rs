//! The Markdown table and the SVG plots (written here: bars and
//! histograms need no plotting library).

use std::fmt::Write as _;

/// One side's value of a figure.
#[derive(Clone, Debug)]
pub enum Value {
    Num(f64),
    /// A figure that is a statement (e.g. the LWK's fault count).
    Text(String),
    /// `not measured: <why>`.
    Missing(String),
}

impl Value {
    fn num(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            _ => None,
        }
    }

    fn show(&self) -> String {
        match self {
            Value::Num(v) => fmt_num(*v),
            Value::Text(t) => t.clone(),
            Value::Missing(why) => format!("not measured: {why}"),
        }
    }
}

/// A row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Item number of the issue (1-6).
    pub item: u8,
    pub figure: String,
    pub unit: &'static str,
    pub lwk: Value,
    pub linux: Value,
    /// Samples behind the figure, per side (`"10000 / 10000"`).
    pub samples: String,
}

impl Row {
    /// LWK / Linux, when both are numbers.
    pub fn ratio(&self) -> Option<f64> {
        let (a, b) = (self.lwk.num()?, self.linux.num()?);
        (b != 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
    }
}

/// Three significant digits, no exponent.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The table of one mode.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| # | figure | unit | LWK | Linux | LWK/Linux | samples (LWK / Linux) |\n\
         |---|---|---|---:|---:|---:|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.item,
            r.figure,
            r.unit,
            r.lwk.show(),
            r.linux.show(),
            r.ratio().map_or("–".into(), fmt_num),
            r.samples
        );
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A histogram of `samples` (ns) on log-spaced bins, counts on a log
/// scale (rare outliers stay visible beside the bulk).
pub fn histogram_svg(title: &str, samples: &[f64], color: &str) -> String {
    let (w, h, ml, mr, mt, mb) = (640.0, 320.0, 60.0, 20.0, 40.0, 50.0);
    let pw = w - ml - mr;
    let ph = h - mt - mb;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
        w / 2.0,
        esc(title)
    );
    let pos: Vec<f64> = samples.iter().copied().filter(|v| *v > 0.0).collect();
    if pos.is_empty() {
        s.push_str("<text x=\"320\" y=\"160\" text-anchor=\"middle\">no samples</text>\n</svg>\n");
        return s;
    }
    let lo = pos.iter().copied().fold(f64::INFINITY, f64::min).log10();
    let mut hi = pos.iter().copied().fold(0.0, f64::max).log10();
    if hi - lo < 0.05 {
        hi = lo + 0.05;
    }
    let bins = 60usize;
    let mut count = vec![0usize; bins];
    for v in &pos {
        let i = (((v.log10() - lo) / (hi - lo)) * bins as f64) as usize;
        count[i.min(bins - 1)] += 1;
    }
    let cmax = *count.iter().max().unwrap_or(&1) as f64;
    let ylog = |c: f64| (c + 1.0).log10() / (cmax + 1.0).log10();
    let bw = pw / bins as f64;
    for (i, &c) in count.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let bh = ylog(c as f64) * ph;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{c}</title></rect>",
            ml + i as f64 * bw,
            mt + ph - bh,
            (bw - 1.0).max(1.0),
            bh
        );
    }
    // Axes and ticks: x at every decade and the ends, y at 1, 10, 100...
    let _ = writeln!(
        s,
        "<line x1=\"{ml}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"black\"/>\n\
         <line x1=\"{ml}\" y1=\"{mt}\" x2=\"{ml}\" y2=\"{y}\" stroke=\"black\"/>",
        y = mt + ph,
        x2 = ml + pw
    );
    let xat = |l: f64| ml + (l - lo) / (hi - lo) * pw;
    let mut ticks: Vec<f64> = vec![lo, hi];
    let mut d = lo.ceil();
    while d < hi {
        // Decades too close to an end label would overlap it.
        if (d - lo).min(hi - d) > 0.1 * (hi - lo) {
            ticks.push(d);
        }
        d += 1.0;
    }
    for t in ticks {
        let x = xat(t);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{y}\" x2=\"{x:.1}\" y2=\"{y2}\" stroke=\"black\"/>\
             <text x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
            fmt_time(10f64.powf(t)),
            y = mt + ph,
            y2 = mt + ph + 4.0,
            ty = mt + ph + 16.0
        );
    }
    let mut c = 1.0;
    while c <= cmax {
        let y = mt + ph - ylog(c) * ph;
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{y:.1}\" x2=\"{ml}\" y2=\"{y:.1}\" stroke=\"black\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{c}</text>",
            ml - 4.0,
            ml - 6.0,
            y + 4.0
        );
        c *= 10.0;
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time per sample (log scale), {} samples</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">count (log scale)</text>\n</svg>",
        ml + pw / 2.0,
        h - 10.0,
        pos.len(),
        mt + ph / 2.0,
        mt + ph / 2.0
    );
    s
}

/// ns as a short time label.
fn fmt_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{} s", fmt_num(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{} ms", fmt_num(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{} µs", fmt_num(ns / 1e3))
    } else {
        format!("{} ns", fmt_num(ns))
    }
}

/// Horizontal bars of LWK/Linux per figure on a log2 axis centred at 1.
pub fn ratios_svg(title: &str, rows: &[Row]) -> String {
    let rated: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|r| r.ratio().filter(|x| *x > 0.0).map(|x| (r, x)))
        .collect();
    let (w, ml, mr, mt, bar) = (760.0, 330.0, 60.0, 50.0, 18.0);
    let h = mt + bar * rated.len().max(1) as f64 + 40.0;
    let pw = w - ml - mr;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
        w / 2.0,
        esc(title)
    );
    let span = rated
        .iter()
        .map(|(_, x)| x.log2().abs())
        .fold(1.0f64, f64::max)
        .ceil();
    let xat = |l: f64| ml + (l + span) / (2.0 * span) * pw;
    for (i, (r, x)) in rated.iter().enumerate() {
        let y = mt + i as f64 * bar;
        let (a, b) = (xat(0.0), xat(x.log2()));
        let color = if *x >= 1.0 { "#c0504d" } else { "#4f81bd" };
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}. {}</text>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            ml - 6.0,
            y + bar * 0.7,
            r.item,
            esc(&r.figure),
            a.min(b),
            y + 2.0,
            (b - a).abs().max(1.0),
            bar - 4.0,
            // Values of left bars go right of the 1 line, clear of the names.
            if *x >= 1.0 { b + 3.0 } else { a + 3.0 },
            y + bar * 0.7,
            fmt_num(*x)
        );
    }
    let bottom = mt + bar * rated.len().max(1) as f64;
    let _ = writeln!(
        s,
        "<line x1=\"{c:.1}\" y1=\"{mt}\" x2=\"{c:.1}\" y2=\"{bottom}\" stroke=\"black\"/>",
        c = xat(0.0)
    );
    let mut t = -span;
    while t <= span {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            xat(t),
            bottom + 14.0,
            fmt_num(2f64.powf(t))
        );
        t += (span / 4.0).ceil().max(1.0);
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">LWK / Linux (log scale; right of 1: the LWK's figure is larger)</text>\n</svg>",
        ml + pw / 2.0,
        bottom + 30.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_ratios_and_missing_values() {
        let rows = [
            Row {
                item: 1,
                figure: "getpid median".into(),
                unit: "µs",
                lwk: Value::Num(48.0),
                linux: Value::Num(2.0),
                samples: "10 / 10".into(),
            },
            Row {
                item: 5,
                figure: "write".into(),
                unit: "MiB/s",
                lwk: Value::Missing("no VM".into()),
                linux: Value::Num(30.0),
                samples: "1 / 1".into(),
            },
        ];
        let t = table(&rows);
        assert!(t.contains("| 1 | getpid median | µs | 48.0 | 2.00 | 24.0 | 10 / 10 |"));
        assert!(t.contains("not measured: no VM | 30.0 | – |"));
        let svg = ratios_svg("r", &rows);
        assert!(svg.contains("getpid median") && !svg.contains(">5. write<"));
        let h = histogram_svg("h", &[1000.0, 1100.0, 50_000.0], "#000");
        assert!(h.starts_with("<svg") && h.trim_end().ends_with("</svg>"));
        assert!(histogram_svg("e", &[], "#000").contains("no samples"));
    }
}
