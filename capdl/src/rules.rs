//! The design rules of `ARCHITECTURE.md`, one function per rule, each
//! returning the violations it finds in plain words.
//!
//! Who is who comes from the naming convention in [`crate::roles`]; what a
//! thread holds and maps comes from its TCB's `cspace` and `vspace` slots,
//! followed through the CNode and page-table trees.
//!
//! | rule | function | checks |
//! |---|---|---|
//! | `roles` | [`roles`] | every TCB is named by the convention |
//! | `app-no-caps` | [`app_holds_no_caps`] | an application's CSpace holds no caps (but its fault endpoint, see [`RuleConfig::app_fault_ep_in_cspace`]) |
//! | `app-frames-private` | [`app_frames_private`] | an application's frames are mapped only in its VSpace and the personality's |
//! | `shared-buffer` | [`shared_buffer_personality_only`] | `ivshmem` frames are mapped and held only by the personality |
//! | `fault-ep` | [`fault_ep_handler_only`] | an application's fault endpoint is held only by its handler (and the application's own fault slot) |
//! | `handler-core` | [`handler_on_same_core`] | each handler is pinned to its application's core |
//! | `large-frames` | [`large_frame_share`] | the pool's share of 2 MiB and 1 GiB frames reaches a threshold |

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::cspace::FaultEpSource;
use crate::model::{FrameSize, ObjectKind};
use crate::roles::{is_pool_frame, is_shared_buffer, Role, Thread};
use crate::spec::{tcb_slot, Spec};
use crate::vspace::Mapping;

/// A design rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Every TCB follows the naming convention.
    Roles,
    /// Applications hold no caps.
    AppHoldsNoCaps,
    /// Application frames are mapped only in their VSpace and the personality's.
    AppFramesPrivate,
    /// The shared buffer is the personality's alone.
    SharedBuffer,
    /// An application's fault endpoint is held only by its handler.
    FaultEp,
    /// A handler runs on its application's core.
    HandlerCore,
    /// The pool is mostly large frames.
    LargeFrames,
}

impl Rule {
    /// Short stable name, used in reports.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Roles => "roles",
            Rule::AppHoldsNoCaps => "app-no-caps",
            Rule::AppFramesPrivate => "app-frames-private",
            Rule::SharedBuffer => "shared-buffer",
            Rule::FaultEp => "fault-ep",
            Rule::HandlerCore => "handler-core",
            Rule::LargeFrames => "large-frames",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One broken rule: which, about which object, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleViolation {
    /// The rule.
    pub rule: Rule,
    /// The object the violation is about (usually a TCB or a frame).
    pub object: String,
    /// What is wrong, in plain words.
    pub detail: String,
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.rule, self.object, self.detail)
    }
}

/// Tunables of the rules.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    /// Smallest acceptable share (0.0 to 1.0) of the pool's bytes that sit
    /// in 2 MiB and 1 GiB frames.
    pub min_large_share: f64,
    /// Whether an application's CSpace may hold one cap: its own fault
    /// endpoint, at the CPtr its TCB's `fault_ep` names. A non-MCS kernel
    /// (our seL4 5.0 build) looks the fault handler up in the faulting
    /// thread's CSpace, so without it an application fault could not reach
    /// its handler; on an MCS kernel the TCB's `fault_ep_slot` does the job
    /// and this can be `false`.
    pub app_fault_ep_in_cspace: bool,
    /// Whether the root task's CSpace and VSpace are left out: it created
    /// every object, so it holds the original caps, and it stops before any
    /// application runs.
    pub exempt_root_task: bool,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            min_large_share: 0.9,
            app_fault_ep_in_cspace: true,
            exempt_root_task: true,
        }
    }
}

/// Runs every rule.
pub fn check_all(spec: &Spec, config: &RuleConfig) -> Vec<RuleViolation> {
    let rules: [fn(&Spec, &RuleConfig) -> Vec<RuleViolation>; 7] = [
        roles,
        app_holds_no_caps,
        app_frames_private,
        shared_buffer_personality_only,
        fault_ep_handler_only,
        handler_on_same_core,
        large_frame_share,
    ];
    rules.iter().flat_map(|rule| rule(spec, config)).collect()
}

fn violation(rule: Rule, object: &str, detail: String) -> RuleViolation {
    RuleViolation {
        rule,
        object: object.into(),
        detail,
    }
}

/// Who uses which CSpace and VSpace, computed once per rule.
struct Context<'a> {
    threads: Vec<Thread<'a>>,
    /// VSpace (PML4) → threads running in it.
    vspace_users: BTreeMap<&'a str, Vec<Thread<'a>>>,
    /// CNode → threads whose CSpace contains it.
    cnode_users: BTreeMap<&'a str, Vec<Thread<'a>>>,
}

impl<'a> Context<'a> {
    fn new(spec: &'a Spec) -> Self {
        let threads = spec.threads();
        let mut vspace_users: BTreeMap<_, Vec<_>> = BTreeMap::new();
        let mut cnode_users: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for &t in &threads {
            if let Some(v) = spec.vspace_of(t.name) {
                vspace_users.entry(v).or_default().push(t);
            }
            for c in spec.cspace_cnodes(t.name) {
                cnode_users.entry(c).or_default().push(t);
            }
        }
        Context {
            threads,
            vspace_users,
            cnode_users,
        }
    }

    fn with_role(&self, role: Role) -> impl Iterator<Item = Thread<'a>> + '_ {
        self.threads
            .iter()
            .copied()
            .filter(move |t| t.role == Some(role))
    }

    /// Whether every user of a VSpace or CNode is in one of `roles` (false
    /// for one nobody uses).
    fn used_only_by(users: Option<&Vec<Thread<'a>>>, roles: &[Role]) -> bool {
        users.is_some_and(|u| u.iter().all(|t| t.role.is_some_and(|r| roles.contains(&r))))
    }

    /// The roles whose VSpaces and CSpaces may hold anything.
    fn trusted(&self, config: &RuleConfig) -> &'static [Role] {
        if config.exempt_root_task {
            &[Role::Personality, Role::Handler, Role::RootTask]
        } else {
            &[Role::Personality, Role::Handler]
        }
    }

    /// "`x` (used by a, b)" for error messages.
    fn describe(name: &str, users: Option<&Vec<Thread<'_>>>) -> String {
        match users {
            Some(u) if !u.is_empty() => {
                let names: Vec<&str> = u.iter().map(|t| t.name).collect();
                format!("`{name}` (used by {})", names.join(", "))
            }
            _ => format!("`{name}` (used by no thread)"),
        }
    }
}

/// Rule `roles`: every TCB's name says what it is, and handlers and
/// applications carry a core key. Without it the other rules cannot tell
/// an application from the personality.
pub fn roles(spec: &Spec, _config: &RuleConfig) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    let threads = spec.threads();
    for t in &threads {
        match t.role {
            None => out.push(violation(
                Rule::Roles,
                t.name,
                "this TCB's name follows no role prefix (root_, pers_, handler_<k>_, app_<k>_), \
                 so no rule can tell what it may hold"
                    .into(),
            )),
            Some(r) if r.keyed() && t.key.is_none() => out.push(violation(
                Rule::Roles,
                t.name,
                format!("a {r} thread needs a core key, as in `{}_1`", r.prefix()),
            )),
            Some(_) => {}
        }
    }
    let has_app = threads.iter().any(|t| t.role == Some(Role::Application));
    if has_app && !threads.iter().any(|t| t.role == Some(Role::Personality)) {
        out.push(violation(
            Rule::Roles,
            "pers",
            "there are application threads but no personality thread (`pers_…`)".into(),
        ));
    }
    out
}

/// Rule `app-no-caps`: an application thread's CSpace holds no caps, so no
/// seL4 system call it could make resolves. The one exception, when
/// [`RuleConfig::app_fault_ep_in_cspace`] is set, is its own fault endpoint
/// at the CPtr its TCB names.
pub fn app_holds_no_caps(spec: &Spec, config: &RuleConfig) -> Vec<RuleViolation> {
    let ctx = Context::new(spec);
    let mut out = Vec::new();
    for app in ctx.with_role(Role::Application) {
        let allowed = match spec.fault_endpoint(app.name) {
            Some(f) if config.app_fault_ep_in_cspace => match f.source {
                FaultEpSource::CSpace { cnode, slot } => Some((cnode, slot)),
                FaultEpSource::TcbSlot => None,
            },
            _ => None,
        };
        for held in spec.held_caps(app.name) {
            if allowed == Some((held.container, held.slot)) {
                continue;
            }
            let ty = spec
                .kind(&held.cap.target)
                .map_or("special", |k| k.object_type().keyword());
            out.push(violation(
                Rule::AppHoldsNoCaps,
                app.name,
                format!(
                    "its CSpace holds a cap to `{}` ({ty}) in slot {} of `{}`",
                    held.cap.target, held.slot, held.container
                ),
            ));
        }
    }
    out
}

fn mappings_by_frame(spec: &Spec) -> BTreeMap<&str, Vec<Mapping<'_>>> {
    let mut by_frame: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for m in spec.all_mappings() {
        by_frame.entry(m.frame).or_default().push(m);
    }
    by_frame
}

/// Rule `app-frames-private`: every frame mapped in an application's VSpace
/// is mapped nowhere else but in the personality's VSpace (its direct map of
/// the pool), and the application does not share its VSpace with a thread
/// of another role.
pub fn app_frames_private(spec: &Spec, config: &RuleConfig) -> Vec<RuleViolation> {
    let ctx = Context::new(spec);
    let by_frame = mappings_by_frame(spec);
    let trusted = ctx.trusted(config);
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for app in ctx.with_role(Role::Application) {
        let Some(own) = spec.vspace_of(app.name) else {
            continue;
        };
        if !seen.insert(own) {
            continue; // threads of one process share a VSpace: check it once
        }
        let users = ctx.vspace_users.get(own);
        if !Context::used_only_by(users, &[Role::Application]) {
            out.push(violation(
                Rule::AppFramesPrivate,
                app.name,
                format!(
                    "its VSpace {} is shared with a non-application thread",
                    Context::describe(own, users)
                ),
            ));
        }
        let frames: BTreeSet<&str> = spec.mappings_in(own).iter().map(|m| m.frame).collect();
        for frame in frames {
            for m in by_frame.get(frame).into_iter().flatten() {
                let users = ctx.vspace_users.get(m.vspace);
                if m.vspace == own || Context::used_only_by(users, trusted) {
                    continue;
                }
                out.push(violation(
                    Rule::AppFramesPrivate,
                    frame,
                    format!(
                        "this frame of `{}` is also mapped at {:#x} in {}",
                        app.name,
                        m.vaddr,
                        Context::describe(m.vspace, users)
                    ),
                ));
            }
        }
    }
    out
}

/// Rule `shared-buffer`: the frames of the buffer shared with the Linux VM
/// (`ivshmem…`) are mapped only in the personality's VSpace, and only the
/// personality's CSpace holds caps to them (a cap is the power to map).
pub fn shared_buffer_personality_only(spec: &Spec, config: &RuleConfig) -> Vec<RuleViolation> {
    let ctx = Context::new(spec);
    let trusted = ctx.trusted(config);
    let mut out = Vec::new();
    for m in spec
        .all_mappings()
        .iter()
        .filter(|m| is_shared_buffer(m.frame))
    {
        let users = ctx.vspace_users.get(m.vspace);
        if !Context::used_only_by(users, trusted) {
            out.push(violation(
                Rule::SharedBuffer,
                m.frame,
                format!(
                    "the shared buffer is mapped at {:#x} in {}, not only by the personality",
                    m.vaddr,
                    Context::describe(m.vspace, users)
                ),
            ));
        }
    }
    for held in spec.caps().filter(|c| is_shared_buffer(&c.cap.target)) {
        let holder_kind = spec.kind(held.container);
        if !matches!(holder_kind, Some(ObjectKind::CNode { .. })) {
            continue; // page-table entries are mappings, handled above
        }
        let users = ctx.cnode_users.get(held.container);
        if !Context::used_only_by(users, trusted) {
            out.push(violation(
                Rule::SharedBuffer,
                &held.cap.target,
                format!(
                    "a cap to the shared buffer sits in slot {} of {}",
                    held.slot,
                    Context::describe(held.container, users)
                ),
            ));
        }
    }
    out
}

/// Rule `fault-ep`: each application thread has a fault endpoint and a
/// handler thread `handler_<k>`; the handler's CSpace holds a cap to that
/// endpoint, and no other cap to it exists except the application's own
/// (its TCB's `fault_ep_slot`, or the cap its `fault_ep` CPtr resolves to,
/// whose presence rule `app-no-caps` judges).
pub fn fault_ep_handler_only(spec: &Spec, config: &RuleConfig) -> Vec<RuleViolation> {
    let ctx = Context::new(spec);
    let mut out = Vec::new();
    let root_cnodes: BTreeSet<&str> = if config.exempt_root_task {
        ctx.with_role(Role::RootTask)
            .flat_map(|t| spec.cspace_cnodes(t.name))
            .collect()
    } else {
        BTreeSet::new()
    };
    for app in ctx.with_role(Role::Application) {
        let handler = ctx
            .with_role(Role::Handler)
            .find(|h| h.key.is_some() && h.key == app.key);
        let Some(handler) = handler else {
            let detail = format!(
                "no handler thread `handler_{}` serves it",
                app.key.unwrap_or("<k>")
            );
            out.push(violation(Rule::FaultEp, app.name, detail));
            continue;
        };
        let Some(fault) = spec.fault_endpoint(app.name) else {
            out.push(violation(
                Rule::FaultEp,
                app.name,
                "it has no fault endpoint: neither a `fault_ep_slot` cap nor a `fault_ep` CPtr \
                 that resolves to an endpoint in its CSpace"
                    .into(),
            ));
            continue;
        };
        let own = match fault.source {
            FaultEpSource::TcbSlot => (app.name, tcb_slot::FAULT_EP),
            FaultEpSource::CSpace { cnode, slot } => (cnode, slot),
        };
        let handler_cnodes = spec.cspace_cnodes(handler.name);
        let mut handler_holds = false;
        for c in spec.caps_to(fault.endpoint) {
            if handler_cnodes.contains(&c.container) {
                handler_holds = true;
            } else if (c.container, c.slot) != own && !root_cnodes.contains(c.container) {
                let users = ctx.cnode_users.get(c.container);
                let place = if users.is_some() {
                    Context::describe(c.container, users)
                } else {
                    format!("`{}`", c.container)
                };
                out.push(violation(
                    Rule::FaultEp,
                    fault.endpoint,
                    format!(
                        "this fault endpoint of `{}` is also held in slot {} of {place}",
                        app.name, c.slot
                    ),
                ));
            }
        }
        if !handler_holds {
            out.push(violation(
                Rule::FaultEp,
                handler.name,
                format!(
                    "its CSpace holds no cap to `{}`, the fault endpoint of `{}`, so it cannot \
                     receive that thread's faults",
                    fault.endpoint, app.name
                ),
            ));
        }
    }
    out
}

/// Rule `handler-core`: a handler is pinned to the same core as its
/// application thread, so that a fault needs no cross-core IPI. Threads
/// without an `affinity` are not judged.
pub fn handler_on_same_core(spec: &Spec, _config: &RuleConfig) -> Vec<RuleViolation> {
    let ctx = Context::new(spec);
    let affinity = |name: &str| match spec.kind(name) {
        Some(ObjectKind::Tcb(attrs)) => attrs.affinity,
        _ => None,
    };
    let mut out = Vec::new();
    for app in ctx.with_role(Role::Application) {
        for handler in ctx
            .with_role(Role::Handler)
            .filter(|h| h.key.is_some() && h.key == app.key)
        {
            if let (Some(a), Some(h)) = (affinity(app.name), affinity(handler.name)) {
                if a != h {
                    out.push(violation(
                        Rule::HandlerCore,
                        handler.name,
                        format!("it runs on core {h} but `{}` runs on core {a}", app.name),
                    ));
                }
            }
        }
    }
    out
}

/// The make-up of the LWK memory pool (frames named `pool_…`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolShare {
    /// Number of 4 KiB frames.
    pub small: u64,
    /// Number of 2 MiB frames.
    pub large: u64,
    /// Number of 1 GiB frames.
    pub huge: u64,
}

impl PoolShare {
    /// Counts the pool frames of `spec`.
    pub fn of(spec: &Spec) -> Self {
        let mut share = PoolShare::default();
        for o in spec.objects().iter().filter(|o| is_pool_frame(&o.name)) {
            match o.kind.frame_size() {
                Some(FrameSize::Small) => share.small += 1,
                Some(FrameSize::Large) => share.large += 1,
                Some(FrameSize::Huge) => share.huge += 1,
                None => {}
            }
        }
        share
    }

    /// Bytes in 2 MiB and 1 GiB frames.
    pub fn large_bytes(&self) -> u64 {
        self.large * FrameSize::Large.bytes() + self.huge * FrameSize::Huge.bytes()
    }

    /// Bytes in the whole pool.
    pub fn total_bytes(&self) -> u64 {
        self.small * FrameSize::Small.bytes() + self.large_bytes()
    }

    /// Large bytes over total bytes; 0 for an empty pool.
    pub fn ratio(&self) -> f64 {
        match self.total_bytes() {
            0 => 0.0,
            total => self.large_bytes() as f64 / total as f64,
        }
    }
}

impl fmt::Display for PoolShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool of {} KiB: {} × 4 KiB, {} × 2 MiB, {} × 1 GiB; {:.1}% in large frames",
            self.total_bytes() / 1024,
            self.small,
            self.large,
            self.huge,
            self.ratio() * 100.0
        )
    }
}

/// Rule `large-frames`: at least [`RuleConfig::min_large_share`] of the
/// pool's bytes are in 2 MiB or 1 GiB frames (the LWK backs memory with
/// large pages so that a run takes no TLB-miss storm and no page fault).
pub fn large_frame_share(spec: &Spec, config: &RuleConfig) -> Vec<RuleViolation> {
    let share = PoolShare::of(spec);
    let detail = if share.total_bytes() == 0 {
        "the spec has no pool frames (`pool_…`)".to_string()
    } else if share.ratio() < config.min_large_share {
        format!(
            "{share}, below the required {:.1}%",
            config.min_large_share * 100.0
        )
    } else {
        return Vec::new();
    };
    alloc::vec![violation(Rule::LargeFrames, "pool", detail)]
}

/// Everything the rules found, plus the pool figures worth printing even
/// when all is well.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// All violations, rule by rule.
    pub violations: Vec<RuleViolation>,
    /// The pool's make-up.
    pub pool: PoolShare,
}

/// Runs every rule and measures the pool.
pub fn report(spec: &Spec, config: &RuleConfig) -> Report {
    Report {
        violations: check_all(spec, config),
        pool: PoolShare::of(spec),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.pool)?;
        if self.violations.is_empty() {
            return writeln!(f, "all design rules hold");
        }
        writeln!(f, "{} design-rule violation(s):", self.violations.len())?;
        for v in &self.violations {
            writeln!(f, "  {v}")?;
        }
        Ok(())
    }
}
