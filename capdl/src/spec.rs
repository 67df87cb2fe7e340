//! [`Spec`]: a whole capDL specification, and the checks that keep it one
//! capDL-tool would accept.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::model::{
    is_identifier, Arch, Cap, FrameSize, Object, ObjectKind, ObjectType, TcbAttrs, RESERVED_NAMES,
    SPECIAL_TARGETS,
};

/// TCB slot numbers, as capDL-tool numbers them when it treats a TCB as a
/// small CNode. The text format has symbolic names for 0–7.
pub mod tcb_slot {
    /// `cspace`: the CSpace root CNode.
    pub const CSPACE: u64 = 0;
    /// `vspace`: the VSpace root (PML4).
    pub const VSPACE: u64 = 1;
    /// `reply_slot` (not modelled).
    pub const REPLY: u64 = 2;
    /// `caller_slot` (not modelled).
    pub const CALLER: u64 = 3;
    /// `ipc_buffer_slot`: the IPC buffer frame.
    pub const IPC_BUFFER: u64 = 4;
    /// `fault_ep_slot`: the fault endpoint as an MCS kernel holds it.
    pub const FAULT_EP: u64 = 5;
    /// `sc_slot` (MCS scheduling context, not modelled).
    pub const SC: u64 = 6;
    /// `temp_fault_ep_slot` (MCS timeout endpoint).
    pub const TEMP_FAULT_EP: u64 = 7;
    /// Bound notification (no symbolic name in the text format).
    pub const BOUND_NOTIFICATION: u64 = 8;

    /// Symbolic slot names of the text format, by slot number.
    pub const NAMES: [(&str, u64); 8] = [
        ("cspace", CSPACE),
        ("vspace", VSPACE),
        ("reply_slot", REPLY),
        ("caller_slot", CALLER),
        ("ipc_buffer_slot", IPC_BUFFER),
        ("fault_ep_slot", FAULT_EP),
        ("sc_slot", SC),
        ("temp_fault_ep_slot", TEMP_FAULT_EP),
    ];
}

/// Entries per x86_64 paging structure and ASID pool.
pub const TABLE_ENTRIES: u64 = 512;

/// A cap parameter, named in [`ModelError::InvalidCapParam`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapParam {
    /// Rights letters.
    Rights,
    /// `badge:`
    Badge,
    /// `guard:` / `guard_size:`
    Guard,
    /// `asid:`
    Asid,
    /// `uncached`
    Uncached,
    /// `mapping:`
    Mapping,
}

impl CapParam {
    fn describe(self) -> &'static str {
        match self {
            CapParam::Rights => "rights",
            CapParam::Badge => "a badge",
            CapParam::Guard => "a guard",
            CapParam::Asid => "an ASID",
            CapParam::Uncached => "`uncached`",
            CapParam::Mapping => "a mapping",
        }
    }
}

/// Why a change to a [`Spec`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// The name is not a capDL identifier, or is reserved.
    InvalidName(String),
    /// An object of that name exists already.
    DuplicateObject(String),
    /// No object of that name (and not a special target).
    UnknownObject(String),
    /// The object has no cap slots (an endpoint, a frame...).
    NoCapSlots {
        /// The object.
        object: String,
        /// Its type.
        object_type: ObjectType,
    },
    /// The slot already holds a cap.
    SlotOccupied {
        /// The container.
        object: String,
        /// The slot.
        slot: u64,
    },
    /// The slot index is past the end of the object.
    SlotOutOfRange {
        /// The container.
        object: String,
        /// The slot asked for.
        slot: u64,
        /// How many slots the container has.
        slots: u64,
    },
    /// A cap to this kind of object cannot sit in this slot (a frame in a
    /// PML4, an endpoint in a TCB's `cspace` slot...). `target_type` is
    /// `None` for special targets such as `irq_control`.
    WrongTarget {
        /// The container.
        object: String,
        /// The slot.
        slot: u64,
        /// The cap's target.
        target: String,
        /// The target's type.
        target_type: Option<ObjectType>,
    },
    /// The cap carries a parameter its target type does not take.
    InvalidCapParam {
        /// The container.
        object: String,
        /// The slot.
        slot: u64,
        /// The offending parameter.
        param: CapParam,
        /// The target's type (`None` for special targets).
        target_type: Option<ObjectType>,
    },
    /// The IRQ number is mapped already.
    DuplicateIrq(u64),
    /// The IRQ map names an object that is not an `irq`.
    NotAnIrq {
        /// The IRQ number.
        irq: u64,
        /// The object named.
        object: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = |t: &Option<ObjectType>| match t {
            Some(t) => t.keyword(),
            None => "special",
        };
        match self {
            ModelError::InvalidName(n) => write!(f, "`{n}` cannot name an object"),
            ModelError::DuplicateObject(n) => write!(f, "object `{n}` is declared twice"),
            ModelError::UnknownObject(n) => write!(f, "no object is named `{n}`"),
            ModelError::NoCapSlots {
                object,
                object_type,
            } => write!(f, "`{object}` is a {object_type} and holds no caps"),
            ModelError::SlotOccupied { object, slot } => {
                write!(f, "slot {slot} of `{object}` is already filled")
            }
            ModelError::SlotOutOfRange {
                object,
                slot,
                slots,
            } => write!(
                f,
                "slot {slot} is outside `{object}`, which has {slots} slots"
            ),
            ModelError::WrongTarget {
                object,
                slot,
                target,
                target_type,
            } => write!(
                f,
                "a cap to `{target}` ({}) cannot sit in slot {slot} of `{object}`",
                kind(target_type)
            ),
            ModelError::InvalidCapParam {
                object,
                slot,
                param,
                target_type,
            } => write!(
                f,
                "the cap in slot {slot} of `{object}` names a {} object and cannot have {}",
                kind(target_type),
                param.describe()
            ),
            ModelError::DuplicateIrq(irq) => write!(f, "IRQ {irq} is mapped twice"),
            ModelError::NotAnIrq { irq, object } => {
                write!(
                    f,
                    "IRQ {irq} is mapped to `{object}`, which is not an irq object"
                )
            }
        }
    }
}

impl core::error::Error for ModelError {}

/// A cap together with where it is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRef<'a> {
    /// The object holding the cap.
    pub container: &'a str,
    /// Its slot there.
    pub slot: u64,
    /// The cap.
    pub cap: &'a Cap,
}

/// A capDL specification: architecture, objects in declaration order (each
/// with its cap slots) and the IRQ map. Build one with [`Spec::add_object`],
/// [`Spec::insert_cap`] and [`Spec::map_irq`], or with [`crate::parse()`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// The `arch` line.
    pub arch: Arch,
    objects: Vec<Object>,
    index: BTreeMap<String, usize>,
    irqs: BTreeMap<u64, String>,
}

impl Spec {
    /// An empty spec.
    pub fn new(arch: Arch) -> Self {
        Spec {
            arch,
            ..Spec::default()
        }
    }

    /// Declares an object. Names must be capDL identifiers, not reserved and
    /// not used before.
    pub fn add_object(
        &mut self,
        name: impl Into<String>,
        kind: ObjectKind,
    ) -> Result<(), ModelError> {
        let name = name.into();
        if !is_identifier(&name)
            || RESERVED_NAMES.contains(&name.as_str())
            || SPECIAL_TARGETS.contains(&name.as_str())
        {
            return Err(ModelError::InvalidName(name));
        }
        if self.index.contains_key(&name) {
            return Err(ModelError::DuplicateObject(name));
        }
        self.index.insert(name.clone(), self.objects.len());
        self.objects.push(Object {
            name,
            kind,
            slots: BTreeMap::new(),
        });
        Ok(())
    }

    /// The object named `name`.
    pub fn object(&self, name: &str) -> Option<&Object> {
        self.index.get(name).map(|&i| &self.objects[i])
    }

    /// The kind of the object named `name`.
    pub fn kind(&self, name: &str) -> Option<&ObjectKind> {
        self.object(name).map(|o| &o.kind)
    }

    /// The attributes of the TCB named `name`, to fill in after creation
    /// (they constrain no cap, so changing them cannot break the spec).
    pub fn tcb_attrs_mut(&mut self, name: &str) -> Option<&mut TcbAttrs> {
        let &i = self.index.get(name)?;
        match &mut self.objects[i].kind {
            ObjectKind::Tcb(attrs) => Some(attrs),
            _ => None,
        }
    }

    /// All objects in declaration order.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// Objects of one type, in declaration order.
    pub fn objects_of(&self, ty: ObjectType) -> impl Iterator<Item = &Object> + '_ {
        self.objects
            .iter()
            .filter(move |o| o.kind.object_type() == ty)
    }

    /// The cap in `slot` of `container`.
    pub fn cap(&self, container: &str, slot: u64) -> Option<&Cap> {
        self.object(container)?.slots.get(&slot)
    }

    /// Every cap in the spec, by container in declaration order, then slot.
    pub fn caps(&self) -> impl Iterator<Item = CapRef<'_>> + '_ {
        self.objects.iter().flat_map(|o| {
            o.slots.iter().map(move |(&slot, cap)| CapRef {
                container: &o.name,
                slot,
                cap,
            })
        })
    }

    /// Every cap whose target is `target`.
    pub fn caps_to<'a>(&'a self, target: &'a str) -> impl Iterator<Item = CapRef<'a>> + 'a {
        self.caps().filter(move |c| c.cap.target == target)
    }

    /// Puts `cap` into `slot` of `container`, refusing anything capDL-tool
    /// would refuse: unknown names, a filled or out-of-range slot, a target
    /// type that cannot sit there, or parameters the target does not take.
    pub fn insert_cap(&mut self, container: &str, slot: u64, cap: Cap) -> Result<(), ModelError> {
        let &index = self
            .index
            .get(container)
            .ok_or_else(|| ModelError::UnknownObject(container.into()))?;
        let target_kind = if SPECIAL_TARGETS.contains(&cap.target.as_str()) {
            None
        } else {
            let kind = self
                .kind(&cap.target)
                .ok_or_else(|| ModelError::UnknownObject(cap.target.clone()))?;
            Some(kind.clone())
        };
        let holder = &self.objects[index];
        check_slot(holder, slot, &cap, target_kind.as_ref())?;
        check_params(
            holder,
            slot,
            &cap,
            target_kind.as_ref().map(|k| k.object_type()),
        )?;
        if let Some(mapping) = &cap.mapping {
            if !self.index.contains_key(&mapping.table) {
                return Err(ModelError::UnknownObject(mapping.table.clone()));
            }
        }
        let holder = &mut self.objects[index];
        if holder.slots.contains_key(&slot) {
            return Err(ModelError::SlotOccupied {
                object: container.into(),
                slot,
            });
        }
        holder.slots.insert(slot, cap);
        Ok(())
    }

    /// Takes the cap out of `slot` of `container`.
    pub fn remove_cap(&mut self, container: &str, slot: u64) -> Option<Cap> {
        let &index = self.index.get(container)?;
        self.objects[index].slots.remove(&slot)
    }

    /// Maps IRQ number `irq` to the `irq` object `object`.
    pub fn map_irq(&mut self, irq: u64, object: &str) -> Result<(), ModelError> {
        match self.kind(object) {
            None => return Err(ModelError::UnknownObject(object.into())),
            Some(ObjectKind::Irq) => {}
            Some(_) => {
                return Err(ModelError::NotAnIrq {
                    irq,
                    object: object.into(),
                })
            }
        }
        if self.irqs.contains_key(&irq) {
            return Err(ModelError::DuplicateIrq(irq));
        }
        self.irqs.insert(irq, object.into());
        Ok(())
    }

    /// The IRQ map: IRQ number → `irq` object.
    pub fn irq_map(&self) -> &BTreeMap<u64, String> {
        &self.irqs
    }
}

/// Checks that a cap to an object of `target` may sit in `slot` of `holder`.
fn check_slot(
    holder: &Object,
    slot: u64,
    cap: &Cap,
    target: Option<&ObjectKind>,
) -> Result<(), ModelError> {
    let ty = holder.kind.object_type();
    if !ty.holds_caps() {
        return Err(ModelError::NoCapSlots {
            object: holder.name.clone(),
            object_type: ty,
        });
    }
    let slots = match holder.kind {
        ObjectKind::CNode { size_bits } => 1u64.checked_shl(size_bits.into()).unwrap_or(u64::MAX),
        ObjectKind::Tcb(_) => tcb_slot::BOUND_NOTIFICATION + 1,
        ObjectKind::Irq => 1,
        _ => TABLE_ENTRIES,
    };
    if slot >= slots {
        return Err(ModelError::SlotOutOfRange {
            object: holder.name.clone(),
            slot,
            slots,
        });
    }
    let target_type = target.map(ObjectKind::object_type);
    let frame = target.and_then(ObjectKind::frame_size);
    let ok = match (&holder.kind, target_type) {
        (ObjectKind::CNode { .. }, _) => true,
        (_, None) => false,
        (ObjectKind::Tcb(_), Some(t)) => {
            let wanted = match slot {
                tcb_slot::CSPACE => ObjectType::CNode,
                tcb_slot::VSPACE => ObjectType::Pml4,
                tcb_slot::IPC_BUFFER => ObjectType::Frame,
                tcb_slot::FAULT_EP | tcb_slot::TEMP_FAULT_EP => ObjectType::Endpoint,
                tcb_slot::BOUND_NOTIFICATION => ObjectType::Notification,
                _ => return Err(wrong_target(holder, slot, cap, target_type)),
            };
            t == wanted
        }
        (ObjectKind::Pml4, Some(t)) => t == ObjectType::Pdpt,
        (ObjectKind::Pdpt, Some(t)) => t == ObjectType::Pd || frame == Some(FrameSize::Huge),
        (ObjectKind::Pd, Some(t)) => t == ObjectType::Pt || frame == Some(FrameSize::Large),
        (ObjectKind::Pt, Some(_)) => frame == Some(FrameSize::Small),
        (ObjectKind::Irq, Some(t)) => t == ObjectType::Notification,
        (ObjectKind::AsidPool, Some(t)) => t == ObjectType::Pml4,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(wrong_target(holder, slot, cap, target_type))
    }
}

fn wrong_target(
    holder: &Object,
    slot: u64,
    cap: &Cap,
    target_type: Option<ObjectType>,
) -> ModelError {
    ModelError::WrongTarget {
        object: holder.name.clone(),
        slot,
        target: cap.target.clone(),
        target_type,
    }
}

/// Checks that `cap` carries only parameters its target type takes, as
/// capDL-tool's `validCapPars` does.
fn check_params(
    holder: &Object,
    slot: u64,
    cap: &Cap,
    target: Option<ObjectType>,
) -> Result<(), ModelError> {
    use ObjectType as T;
    let allowed: &[CapParam] = match target {
        Some(T::Endpoint | T::Notification) => &[CapParam::Rights, CapParam::Badge],
        Some(T::CNode) => &[CapParam::Guard],
        Some(T::Frame) => &[
            CapParam::Rights,
            CapParam::Asid,
            CapParam::Uncached,
            CapParam::Mapping,
        ],
        Some(T::Pml4 | T::Pdpt | T::Pd | T::Pt | T::AsidPool) => &[CapParam::Asid],
        _ => &[],
    };
    let present = [
        (CapParam::Rights, !cap.rights.is_empty()),
        (CapParam::Badge, cap.badge != 0),
        (CapParam::Guard, cap.guard != 0 || cap.guard_size != 0),
        (CapParam::Asid, cap.asid.is_some()),
        (CapParam::Uncached, !cap.cached),
        (CapParam::Mapping, cap.mapping.is_some()),
    ];
    match present
        .into_iter()
        .find(|(param, set)| *set && !allowed.contains(param))
    {
        Some((param, _)) => Err(ModelError::InvalidCapParam {
            object: holder.name.clone(),
            slot,
            param,
            target_type: target,
        }),
        None => Ok(()),
    }
}
