//! What a good root task boot looks like on the console.
//!
//! The root task's contract with the test harness is a few machine-readable
//! lines:
//!
//! - a first line starting `LWK root task` (timed, not judged);
//! - `node <i>: thread ran on node <i>` for every node other than 0;
//! - finally `ROOT-TASK-OK nodes=<N>`, or `ROOT-TASK-FAIL <reason>`.
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

/// How long to wait for node lines still missing once the final OK line has
/// come (other nodes' output may trail the final line by a little).
const NODE_LINE_GRACE: Duration = Duration::from_secs(2);

/// Expectations of one boot with a given number of nodes.
pub struct RootTaskCheck {
    nodes: u32,
    /// `ran[i]`: the line for node `i` has been seen (index 0 unused).
    ran: Vec<bool>,
    ok_seen: bool,
}

impl RootTaskCheck {
    /// Expects `ROOT-TASK-OK nodes=<nodes>` and a line for each node 1..nodes.
    pub fn new(nodes: u32) -> Self {
        RootTaskCheck {
            nodes,
            ran: vec![false; nodes as usize],
            ok_seen: false,
        }
    }

    /// Judges one console line.
    pub fn line(&mut self, line: &str) -> Check {
        if let Some(at) = line.find(FAIL) {
            return Check::Fail(format!("root task says: {}", line[at..].trim()));
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

/// `nodes=<N>` as the first word after the OK marker.
fn parse_nodes(rest: &str) -> Option<u32> {
    rest.split_whitespace()
        .next()?
        .strip_prefix("nodes=")?
        .parse()
        .ok()
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
    fn other_lines_are_ignored() {
        let mut c = RootTaskCheck::new(1);
        assert_eq!(c.line("Bootstrapping kernel"), Check::Continue);
        assert_eq!(c.line(""), Check::Continue);
    }
}
