//! The naming convention that tells the rule checker and the graph who is
//! who. capDL has no notion of "component", so the role of a thread is read
//! off its TCB's name, and a few kinds of frames are recognised by name too.
//!
//! | name | meaning |
//! |---|---|
//! | `root`, `root_…` | the root task |
//! | `pers`, `pers_…` | the LWK personality server (any of its threads) |
//! | `handler_<k>`, `handler_<k>_…` | the fault-handler thread of application core `<k>` |
//! | `app_<k>`, `app_<k>_…` | the application thread on core `<k>` |
//! | `ivshmem`, `ivshmem_…` (frames) | the buffer shared with the Linux VM |
//! | `pool_…` (frames) | the LWK memory pool |
//!
//! `<k>` is the text up to the next `_` (so `app_3_tcb` and `app_3` are both
//! core `3`); the handler of `app_<k>` is `handler_<k>`. The same prefixes on
//! other objects (`app_3_cnode`, `pers_pml4`) group them in the graph; the
//! rules themselves look only at TCB names and follow the TCBs' slots.

use alloc::vec::Vec;
use core::fmt;

use crate::model::ObjectKind;
use crate::spec::Spec;

/// Who a thread (or an object named like one) belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The root task, which built everything and then stepped aside.
    RootTask,
    /// The LWK personality server.
    Personality,
    /// A fault-handler thread of the personality, one per application core.
    Handler,
    /// An application thread, one per application core.
    Application,
}

impl Role {
    /// Every role, in the order the graph draws them.
    pub const ALL: [Role; 4] = [
        Role::RootTask,
        Role::Personality,
        Role::Handler,
        Role::Application,
    ];

    /// The name prefix (without the `_`).
    pub fn prefix(self) -> &'static str {
        match self {
            Role::RootTask => "root",
            Role::Personality => "pers",
            Role::Handler => "handler",
            Role::Application => "app",
        }
    }

    /// Whether names of this role carry a core key (`app_<k>`).
    pub fn keyed(self) -> bool {
        matches!(self, Role::Handler | Role::Application)
    }

    /// Whether this role's threads belong to the personality server (its
    /// VSpace is the one allowed to map application and shared memory).
    pub fn is_personality(self) -> bool {
        matches!(self, Role::Personality | Role::Handler)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::RootTask => "root task",
            Role::Personality => "personality",
            Role::Handler => "handler",
            Role::Application => "application",
        })
    }
}

/// The role and core key a name carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classified<'a> {
    /// The role.
    pub role: Role,
    /// The core key for handlers and applications; `None` for the other
    /// roles, and for a keyed role whose name lacks the key (`app`).
    pub key: Option<&'a str>,
}

/// Reads the role (and core key) off a name; `None` if the name follows no
/// role prefix.
pub fn classify(name: &str) -> Option<Classified<'_>> {
    Role::ALL.into_iter().find_map(|role| {
        let rest = name.strip_prefix(role.prefix())?;
        let rest = match rest.strip_prefix('_') {
            Some(rest) => rest,
            None if rest.is_empty() => rest,
            None => return None,
        };
        let key = if role.keyed() {
            rest.split('_').next().filter(|k| !k.is_empty())
        } else {
            None
        };
        Some(Classified { role, key })
    })
}

fn has_prefix(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
}

/// Whether a frame's name marks it as part of the shared (ivshmem) buffer.
pub fn is_shared_buffer(name: &str) -> bool {
    has_prefix(name, "ivshmem")
}

/// Whether a frame's name marks it as part of the LWK memory pool.
pub fn is_pool_frame(name: &str) -> bool {
    has_prefix(name, "pool")
}

/// A TCB and what its name says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread<'a> {
    /// The TCB's name.
    pub name: &'a str,
    /// Its role, `None` if the name follows no convention.
    pub role: Option<Role>,
    /// Its core key, for handlers and applications.
    pub key: Option<&'a str>,
}

impl Spec {
    /// Every TCB, classified by name, in declaration order.
    pub fn threads(&self) -> Vec<Thread<'_>> {
        self.objects()
            .iter()
            .filter(|o| matches!(o.kind, ObjectKind::Tcb(_)))
            .map(|o| {
                let c = classify(&o.name);
                Thread {
                    name: &o.name,
                    role: c.map(|c| c.role),
                    key: c.and_then(|c| c.key),
                }
            })
            .collect()
    }

    /// Threads of one role.
    pub fn threads_with_role(&self, role: Role) -> Vec<Thread<'_>> {
        self.threads()
            .into_iter()
            .filter(|t| t.role == Some(role))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_classify() {
        let c = classify("app_3_tcb").unwrap();
        assert_eq!((c.role, c.key), (Role::Application, Some("3")));
        let c = classify("handler_3").unwrap();
        assert_eq!((c.role, c.key), (Role::Handler, Some("3")));
        assert_eq!(classify("pers_ctl").unwrap().role, Role::Personality);
        assert_eq!(classify("root").unwrap().role, Role::RootTask);
        assert_eq!(classify("app").unwrap().key, None);
        assert!(classify("apple").is_none());
        assert!(classify("persona").is_none());
        assert!(is_shared_buffer("ivshmem_0") && !is_shared_buffer("ivshmemx"));
        assert!(is_pool_frame("pool_2m_7") && !is_pool_frame("pooled"));
    }
}
