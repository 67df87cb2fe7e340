//! What a good root task boot looks like on the console.
//!
//! The root task's contract with the test harness is a few machine-readable
//! lines:
//!
//! - a first line starting `LWK root task` (timed, not judged);
//! - `node <i>: thread ran on node <i>` for every node other than 0;
//! - finally `ROOT-TASK-OK nodes=<N>`, or `ROOT-TASK-FAIL <reason>`;
//!
//! then the personality server's, from its own address space:
//!
//! - `handler <k>: for node <i>, running on node <j>` for every application
//!   node (every node but 0; node 0 alone on one node), with `i == j`;
//! - `PERSONALITY-OK nodes=<N> handlers=<H> pool_mib=<M> ivshmem=present|absent`,
//!   or `COMPONENT-FAIL <reason>`.
//!
//! A `PANIC:` line fails any boot.
//!
//! Lines are matched anywhere in a console line, since firmware or kernel
//! output without a trailing newline can precede them.

use std::time::Duration;

use crate::qemu::Check;

/// The start of the root task's first line.
pub const FIRST_LINE: &str = "LWK root task";

const OK: &str = "ROOT-TASK-OK";
const FAIL: &str = "ROOT-TASK-FAIL";
const RAN_ON: &str = ": thread ran on node ";
const PERS_OK: &str = "PERSONALITY-OK";
const COMPONENT_FAIL: &str = "COMPONENT-FAIL";
const PANIC: &str = "PANIC:";
const HANDLER: &str = "handler ";

/// How long to wait for node lines still missing once the final OK line has
/// come (other nodes' output may trail the final line by a little).
const NODE_LINE_GRACE: Duration = Duration::from_secs(2);

/// Expectations of one boot with a given number of nodes.
pub struct RootTaskCheck {
    nodes: u32,
    /// `ran[i]`: the line for node `i` has been seen (index 0 unused).
    ran: Vec<bool>,
    ok_seen: bool,
    /// `Some(present)`: the personality must also report, with the shared
    /// buffer present or absent.
    personality: Option<bool>,
    /// `handlers[i]`: the handler for application node i has reported.
    handlers: Vec<bool>,
    pers_ok_seen: bool,
}

impl RootTaskCheck {
    /// Expects `ROOT-TASK-OK nodes=<nodes>` and a line for each node 1..nodes.
    pub fn new(nodes: u32) -> Self {
        RootTaskCheck {
            nodes,
            ran: vec![false; nodes as usize],
            ok_seen: false,
            personality: None,
            handlers: vec![false; nodes.max(1) as usize],
            pers_ok_seen: false,
        }
    }

    /// Also expects the personality's lines, with the shared buffer
    /// `ivshmem` present or not.
    pub fn with_personality(mut self, ivshmem: bool) -> Self {
        self.personality = Some(ivshmem);
        self
    }

    /// The application nodes: all but 0, or node 0 alone.
    fn app_nodes(&self) -> Vec<u32> {
        if self.nodes <= 1 {
            vec![0]
        } else {
            (1..self.nodes).collect()
        }
    }

    fn personality_line(&mut self, line: &str, ivshmem: bool) -> Option<Check> {
        if let Some(at) = line.find(COMPONENT_FAIL) {
            return Some(Check::Fail(format!(
                "personality says: {}",
                line[at..].trim()
            )));
        }
        if let Some((node, on)) = parse_handler(line) {
            let apps = self.app_nodes();
            if node != on {
                return Some(Check::Fail(format!(
                    "handler for node {node} runs on node {on}"
                )));
            }
            if !apps.contains(&node) {
                return Some(Check::Fail(format!(
                    "handler for node {node}, not an application node"
                )));
            }
            self.handlers[node as usize] = true;
        }
        if let Some(at) = line.find(PERS_OK) {
            let fields = parse_fields(&line[at + PERS_OK.len()..]);
            let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let want_handlers = self.app_nodes().len().to_string();
            let want_nodes = self.nodes.to_string();
            let want_ivshmem = if ivshmem { "present" } else { "absent" };
            if get("nodes") != Some(&want_nodes)
                || get("handlers") != Some(&want_handlers)
                || get("ivshmem") != Some(want_ivshmem)
                || get("pool_mib")
                    .and_then(|m| m.parse::<u64>().ok())
                    .is_none_or(|m| m == 0)
            {
                return Some(Check::Fail(format!(
                    "personality reports `{}`, expected nodes={want_nodes} handlers={want_handlers} \
                     ivshmem={want_ivshmem} and a non-empty pool",
                    line[at..].trim()
                )));
            }
            self.pers_ok_seen = true;
        }
        None
    }

    /// Judges one console line.
    pub fn line(&mut self, line: &str) -> Check {
        if let Some(at) = line.find(FAIL) {
            return Check::Fail(format!("root task says: {}", line[at..].trim()));
        }
        if let Some(at) = line.find(PANIC) {
            return Check::Fail(format!("panic: {}", line[at..].trim()));
        }
        if let Some(ivshmem) = self.personality {
            if let Some(verdict) = self.personality_line(line, ivshmem) {
                return verdict;
            }
        }
        if let Some(at) = line.find(OK) {
            match parse_nodes(&line[at + OK.len()..]) {
                Some(n) if n == self.nodes => self.ok_seen = true,
                Some(n) => {
                    return Check::Fail(format!(
                        "root task reports nodes={n}, expected {}",
                        self.nodes
                    ))
                }
                None => return Check::Fail(format!("malformed final line: {}", line[at..].trim())),
            }
        }
        if let Some((ran, on)) = parse_ran_on(line) {
            if ran != on {
                return Check::Fail(format!("thread for node {ran} ran on node {on}"));
            }
            match self.ran.get_mut(ran as usize) {
                Some(seen) if ran != 0 => *seen = true,
                _ => {
                    return Check::Fail(format!("unexpected node {ran} with {} nodes", self.nodes))
                }
            }
        }
        if !self.ok_seen {
            return Check::Continue;
        }
        let missing: Vec<String> = (1..self.nodes)
            .filter(|&i| !self.ran[i as usize])
            .map(|i| i.to_string())
            .collect();
        if self.personality.is_some() && missing.is_empty() {
            let handlers: Vec<String> = self
                .app_nodes()
                .into_iter()
                .filter(|&i| !self.handlers[i as usize])
                .map(|i| i.to_string())
                .collect();
            if !self.pers_ok_seen {
                // The personality starts after the root task's last line and
                // maps the whole pool: its own deadline is the boot timeout.
                return Check::Continue;
            }
            if !handlers.is_empty() {
                return Check::Grace(
                    NODE_LINE_GRACE,
                    format!(
                        "{PERS_OK} came, but no handler line for node(s) {}",
                        handlers.join(", ")
                    ),
                );
            }
        }
        if missing.is_empty() {
            Check::Pass
        } else {
            Check::Grace(
                NODE_LINE_GRACE,
                format!(
                    "{OK} came, but no thread line for node(s) {}",
                    missing.join(", ")
                ),
            )
        }
    }
}

/// Judges a standalone-jobs boot: done when the personality says every job
/// of the pack ran (`JOBS-DONE`), failed on any component failure or panic.
/// The jobs' own verdicts are lines of their own (`JOB-EXIT`, ...).
pub fn jobs_line(line: &str) -> Check {
    if line.contains("JOBS-DONE") {
        Check::Pass
    } else if line.contains(FAIL) || line.contains(COMPONENT_FAIL) || line.contains(PANIC) {
        Check::Fail(line.trim().to_string())
    } else {
        Check::Continue
    }
}

/// `nodes=<N>` as the first word after the OK marker.
fn parse_nodes(rest: &str) -> Option<u32> {
    rest.split_whitespace()
        .next()?
        .strip_prefix("nodes=")?
        .parse()
        .ok()
}

/// `key=value` words.
fn parse_fields(rest: &str) -> Vec<(String, String)> {
    rest.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `handler <k>: for node <i>, running on node <j>` → `(i, j)`.
fn parse_handler(line: &str) -> Option<(u32, u32)> {
    let at = line.find(HANDLER)?;
    let rest = &line[at..];
    let node = rest
        .split("for node ")
        .nth(1)?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()?;
    let on = rest
        .split("running on node ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((node, on))
}

/// `node <i>: thread ran on node <j>` → `(i, j)`.
fn parse_ran_on(line: &str) -> Option<(u32, u32)> {
    let at = line.find(RAN_ON)?;
    let ran = line[..at].rsplit_once("node ")?.1.trim().parse().ok()?;
    let on = line[at + RAN_ON.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((ran, on))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(check: &mut RootTaskCheck, lines: &[&str]) -> Check {
        let mut last = Check::Continue;
        for line in lines {
            last = check.line(line);
        }
        last
    }

    #[test]
    fn passes_with_all_node_lines_then_ok() {
        let mut c = RootTaskCheck::new(4);
        let lines = [
            "LWK root task starting",
            "node 1: thread ran on node 1",
            "node 3: thread ran on node 3",
            "node 2: thread ran on node 2",
            "ROOT-TASK-OK nodes=4",
        ];
        assert_eq!(feed(&mut c, &lines), Check::Pass);
    }

    #[test]
    fn uniprocessor_needs_only_the_ok_line() {
        let mut c = RootTaskCheck::new(1);
        assert_eq!(
            c.line("Booting from ROM..ROOT-TASK-OK nodes=1"),
            Check::Pass
        );
    }

    #[test]
    fn waits_a_little_for_trailing_node_lines() {
        let mut c = RootTaskCheck::new(2);
        assert!(matches!(c.line("ROOT-TASK-OK nodes=2"), Check::Grace(_, _)));
        assert_eq!(c.line("node 1: thread ran on node 1"), Check::Pass);
    }

    #[test]
    fn fails_on_fail_wrong_count_or_wrong_node() {
        let mut c = RootTaskCheck::new(4);
        assert_eq!(
            c.line("ROOT-TASK-FAIL no untyped"),
            Check::Fail("root task says: ROOT-TASK-FAIL no untyped".into())
        );
        assert!(matches!(
            RootTaskCheck::new(4).line("ROOT-TASK-OK nodes=8"),
            Check::Fail(_)
        ));
        assert!(matches!(
            RootTaskCheck::new(4).line("ROOT-TASK-OK"),
            Check::Fail(_)
        ));
        assert!(matches!(
            RootTaskCheck::new(4).line("node 2: thread ran on node 0"),
            Check::Fail(_)
        ));
        assert!(matches!(
            RootTaskCheck::new(2).line("node 5: thread ran on node 5"),
            Check::Fail(_)
        ));
    }

    #[test]
    fn personality_lines_complete_the_boot() {
        let mut c = RootTaskCheck::new(2).with_personality(true);
        assert_eq!(c.line("node 1: thread ran on node 1"), Check::Continue);
        assert_eq!(c.line("ROOT-TASK-OK nodes=2"), Check::Continue);
        assert_eq!(
            c.line("handler 0: for node 1, running on node 1"),
            Check::Continue
        );
        assert_eq!(
            c.line("PERSONALITY-OK nodes=2 handlers=1 pool_mib=400 ivshmem=present"),
            Check::Pass
        );
        let mut up = RootTaskCheck::new(1).with_personality(false);
        assert_eq!(up.line("ROOT-TASK-OK nodes=1"), Check::Continue);
        assert!(matches!(
            up.line("PERSONALITY-OK nodes=1 handlers=1 pool_mib=400 ivshmem=absent"),
            Check::Grace(_, _)
        ));
        assert_eq!(
            up.line("handler 0: for node 0, running on node 0"),
            Check::Pass
        );
    }

    #[test]
    fn personality_failures_fail() {
        let mut c = RootTaskCheck::new(2).with_personality(true);
        assert!(matches!(
            c.line("COMPONENT-FAIL bad handoff magic"),
            Check::Fail(_)
        ));
        let mut c = RootTaskCheck::new(2).with_personality(true);
        assert!(matches!(
            c.line("PERSONALITY-OK nodes=2 handlers=1 pool_mib=400 ivshmem=absent"),
            Check::Fail(_)
        ));
        let mut c = RootTaskCheck::new(4).with_personality(false);
        assert!(matches!(
            c.line("handler 1: for node 2, running on node 0"),
            Check::Fail(_)
        ));
        assert!(matches!(
            RootTaskCheck::new(1).line("PANIC: at x"),
            Check::Fail(_)
        ));
    }

    #[test]
    fn other_lines_are_ignored() {
        let mut c = RootTaskCheck::new(1);
        assert_eq!(c.line("Bootstrapping kernel"), Check::Continue);
        assert_eq!(c.line(""), Check::Continue);
    }
}
