//! The system-call table checked against Linux (the host's libc is the
//! oracle): numbers, names, error values, notes, and unknown-number handling.

mod common;

use common::fake::FakeProcess;
use common::host_errnos::HOST_ERRNOS;
use common::host_numbers::HOST;
use lwk_personality::syscall::process::Report;
use lwk_personality::syscall::table::{self, Support, TABLE};
use lwk_personality::syscall::{nr, Args, Dispatcher, Errno, SysError};
use std::collections::HashSet;

#[test]
fn numbers_equal_host_libc() {
    assert_eq!(nr::ALL.len(), HOST.len());
    let mut checked = 0;
    for (&(name, n), &(host_name, host_n)) in nr::ALL.iter().zip(HOST) {
        assert_eq!(name, host_name);
        if let Some(host_n) = host_n {
            assert_eq!(n as i64, host_n, "{name}");
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        HOST.len() - 4,
        "only four numbers lack a libc constant"
    );
    assert!(
        nr::ALL.windows(2).all(|w| w[0].1 < w[1].1),
        "ALL sorted by number"
    );
    assert!(nr::ALL.iter().all(|&(_, n)| n < nr::COUNT));
    assert_eq!(nr::name(0), Some("read"));
    assert_eq!(nr::name(231), Some("exit_group"));
    assert_eq!(nr::name(335), None, "gap in the x86_64 numbering");
}

#[test]
fn table_lines_are_consistent() {
    let mut names = HashSet::new();
    let mut numbers = HashSet::new();
    for call in TABLE {
        assert!(names.insert(call.name), "duplicate name {}", call.name);
        assert!(numbers.insert(call.nr), "duplicate number {}", call.nr);
        assert_eq!(
            nr::name(call.nr),
            Some(call.name),
            "line {} has number {}",
            call.name,
            call.nr
        );
        let host = HOST
            .iter()
            .find(|(n, _)| *n == call.name)
            .expect("known to libc");
        assert_eq!(Some(call.nr as i64), host.1, "{}", call.name);
        match call.support {
            Support::Full => {}
            Support::Partial(note) | Support::Stub(_, note) => {
                assert!(!note.trim().is_empty(), "{} needs a note", call.name)
            }
        }
        assert_eq!(
            table::lookup(call.nr as u64).map(|c| c.name),
            Some(call.name)
        );
    }
    assert!(
        TABLE.windows(2).all(|w| w[0].nr < w[1].nr),
        "table in number order"
    );
}

#[test]
fn errno_values_equal_host_libc() {
    assert_eq!(Errno::ALL.len(), HOST_ERRNOS.len());
    for (&e, &(name, value)) in Errno::ALL.iter().zip(HOST_ERRNOS) {
        assert_eq!(e.name(), name);
        assert_eq!(e.code(), value, "{name}");
    }
    assert_eq!(Errno::ENOTSUP.code(), libc::ENOTSUP);
    assert_eq!(Errno::EWOULDBLOCK.code(), libc::EWOULDBLOCK);
    assert_eq!(Errno::ENOSYS.to_return(), (-38i64) as u64);
}

#[test]
fn unknown_numbers_are_enosys_and_reported_once() {
    let mut p = FakeProcess::default();
    let mut d = Dispatcher::new();
    let open = nr::INOTIFY_INIT as u64; // known to Linux, not in the table
    for _ in 0..3 {
        assert_eq!(
            d.dispatch(&mut p, open, Args::default()),
            Err(SysError::Errno(Errno::ENOSYS))
        );
    }
    assert_eq!(
        d.dispatch(&mut p, 335, Args::default()),
        Err(SysError::Errno(Errno::ENOSYS))
    );
    for garbage in [1 << 30, u64::MAX, 4096] {
        assert_eq!(
            d.dispatch(&mut p, garbage, Args::default()),
            Err(SysError::Errno(Errno::ENOSYS))
        );
    }
    assert_eq!(
        p.reports,
        vec![
            Report::Unimplemented {
                nr: open,
                name: Some("inotify_init")
            },
            Report::Unimplemented {
                nr: 335,
                name: None
            },
            Report::Unimplemented {
                nr: 1 << 30,
                name: None
            },
        ]
    );
    assert_eq!(d.unimplemented_calls(), 7);
    assert!(p.reports[0].to_string().contains("inotify_init"));
}

#[test]
fn stubs_answer_their_errno() {
    let mut p = FakeProcess::default();
    let mut d = Dispatcher::new();
    for call in TABLE {
        if let Support::Stub(errno, _) = call.support {
            assert_eq!(
                d.dispatch(&mut p, call.nr as u64, Args::default()),
                Err(SysError::Errno(errno))
            );
        }
    }
    assert!(p.reports.is_empty(), "stubs are deliberate, not reported");
}

/// `docs/syscalls.md` is the table's own output; `LWK_BLESS=1` rewrites it.
#[test]
fn docs_table_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/syscalls.md");
    let want = lwk_personality::syscall::doc::markdown();
    if std::env::var_os("LWK_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/syscalls.md is stale: run LWK_BLESS=1 cargo test -p lwk-personality --test table"
    );
}
