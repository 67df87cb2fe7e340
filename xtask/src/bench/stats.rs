//! What the benchmark programs print, parsed, and the statistics computed
//! from their raw samples (the same code for both sides).
//!
//! A program prints one summary line `BENCH <name> key=value ...` and,
//! for distributions, `BENCH-SAMPLES <name> <series> v v ...` lines
//! (nanoseconds). See `tests/programs/bench_common.h`.

use std::collections::BTreeMap;

/// The output of one benchmark program on one side.
#[derive(Clone, Debug, Default)]
pub struct JobOut {
    /// Exit status (`None`: never ended, or killed by a signal, see `signal`).
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub lines: Vec<String>,
}

impl JobOut {
    /// Ran to its end with status 0.
    pub fn ok(&self) -> bool {
        self.status == Some(0) && self.signal.is_none()
    }

    /// The `key=value` fields of the `BENCH <name>` line.
    pub fn summary(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let head = format!("BENCH {name} ");
        let line = self.lines.iter().find_map(|l| {
            let at = l.find(&head)?;
            Some(&l[at + head.len()..])
        })?;
        Some(
            line.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// A numeric field of the `BENCH <name>` line.
    pub fn field(&self, name: &str, key: &str) -> Option<f64> {
        self.summary(name)?.get(key)?.parse().ok()
    }

    /// The samples of `series` (all series when `None`), in order.
    pub fn samples(&self, name: &str, series: Option<&str>) -> Vec<f64> {
        let head = format!("BENCH-SAMPLES {name} ");
        let mut out = Vec::new();
        for l in &self.lines {
            let Some(at) = l.find(&head) else { continue };
            let mut words = l[at + head.len()..].split_whitespace();
            let Some(s) = words.next() else { continue };
            if series.is_some_and(|want| want != s) {
                continue;
            }
            out.extend(words.filter_map(|w| w.parse::<f64>().ok()));
        }
        out
    }

    /// Why this job gives no figure: its end and its error lines.
    pub fn failure(&self) -> String {
        let errors: Vec<&str> = self
            .lines
            .iter()
            .filter(|l| l.contains("BENCH-ERROR"))
            .map(|l| l.trim())
            .collect();
        let end = match (self.status, self.signal) {
            (_, Some(s)) => format!("killed by signal {s}"),
            (Some(s), None) => format!("exit status {s}"),
            (None, None) => "did not end".to_string(),
        };
        if errors.is_empty() {
            end
        } else {
            format!("{end}: {}", errors.join("; "))
        }
    }
}

/// Order statistics of a sample set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for an empty set.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        Some(Summary {
            n: s.len(),
            min: s[0],
            median: quantile(&s, 0.5),
            p99: quantile(&s, 0.99),
            max: s[s.len() - 1],
        })
    }

    /// `(max - min) / min`, the noise figure.
    pub fn spread(&self) -> f64 {
        if self.min > 0.0 {
            (self.max - self.min) / self.min
        } else {
            f64::NAN
        }
    }
}

/// The nearest-rank value at `q` of sorted values (as the C programs do).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Splits console text into jobs: lines between `BENCH-BEGIN <name>` and
/// `BENCH-END <name> status=<n>` (the Linux VM's init script); lines
/// before the first `BENCH-BEGIN` belong to `first` (the init program).
pub fn split_console(lines: &[String], first: &str) -> BTreeMap<String, JobOut> {
    let mut jobs: BTreeMap<String, JobOut> = BTreeMap::new();
    let mut current = Some(first.to_string());
    for line in lines {
        if let Some(at) = line.find("BENCH-BEGIN ") {
            let name = line[at + 12..].trim().to_string();
            jobs.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let Some(at) = line.find("BENCH-END ") {
            let mut words = line[at + 10..].split_whitespace();
            let name = words.next().unwrap_or("").to_string();
            let status = words
                .find_map(|w| w.strip_prefix("status="))
                .and_then(|v| v.parse::<i32>().ok());
            let job = jobs.entry(name).or_default();
            match status {
                // A shell reports a signal as 128 + N.
                Some(s) if s > 128 => job.signal = Some(s - 128),
                s => job.status = s,
            }
            current = None;
            continue;
        }
        if let Some(name) = &current {
            jobs.entry(name.clone())
                .or_default()
                .lines
                .push(line.clone());
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn summaries_and_samples_parse() {
        let job = JobOut {
            status: Some(0),
            signal: None,
            lines: lines(
                "noise\nBENCH syscall samples=3 median_ns=50\n\
                 BENCH-SAMPLES syscall getpid 10 20\nBENCH-SAMPLES syscall other 5\n\
                 BENCH-SAMPLES syscall getpid 30\n",
            ),
        };
        assert!(job.ok());
        assert_eq!(job.field("syscall", "median_ns"), Some(50.0));
        assert_eq!(job.field("syscall", "nope"), None);
        assert_eq!(job.samples("syscall", Some("getpid")), [10.0, 20.0, 30.0]);
        assert_eq!(job.samples("syscall", None).len(), 4);
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 5.0));
        assert_eq!(s.spread(), 4.0);
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn console_splits_into_jobs() {
        let text = "BENCH-FIRST\nBENCH boot first_tsc=1\nkernel noise\n\
                    BENCH-BEGIN syscall\nBENCH syscall samples=1\nBENCH-END syscall status=0\n\
                    BENCH-BEGIN mem\nBENCH-END mem status=137\n";
        let jobs = split_console(&lines(text), "boot");
        assert_eq!(jobs["boot"].lines.len(), 3);
        assert!(jobs["syscall"].ok());
        assert_eq!(jobs["mem"].signal, Some(9));
        assert!(jobs["mem"].failure().contains("signal 9"));
    }
}
