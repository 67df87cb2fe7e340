//! seL4 object type numbers for x86_64.
//!
//! libsel4 defines them as C enums (`objecttype.h` of the generic API, then
//! x86_64's mode objects, then x86's arch objects) whose members depend on
//! `HUGE_PAGE`, `IOMMU` and `VTX`. They are not in the XML, so this module
//! states the same sequence with the same conditions; a test at `cargo
//! xtask test` time compiles libsel4's headers and compares.

use crate::config::KernelConfig;

/// (C name, Rust name, config option that must be defined, if any), in
/// enum order.
const SEQUENCE: &[(&str, &str, Option<&str>)] = &[
    ("seL4_UntypedObject", "Untyped", None),
    ("seL4_TCBObject", "Tcb", None),
    ("seL4_EndpointObject", "Endpoint", None),
    ("seL4_NotificationObject", "Notification", None),
    ("seL4_CapTableObject", "CNode", None),
    ("seL4_X86_PDPTObject", "Pdpt", None),
    ("seL4_X64_PML4Object", "Pml4", None),
    ("seL4_X64_HugePageObject", "HugePage", Some("HUGE_PAGE")),
    ("seL4_X86_4K", "SmallPage", None),
    ("seL4_X86_LargePageObject", "LargePage", None),
    ("seL4_X86_PageTableObject", "PageTable", None),
    ("seL4_X86_PageDirectoryObject", "PageDirectory", None),
    ("seL4_X86_IOPageTableObject", "IoPageTable", Some("IOMMU")),
    ("seL4_X86_VCPUObject", "Vcpu", Some("VTX")),
    ("seL4_X86_EPTPML4Object", "EptPml4", Some("VTX")),
    ("seL4_X86_EPTPDPTObject", "EptPdpt", Some("VTX")),
    ("seL4_X86_EPTPDObject", "EptPd", Some("VTX")),
    ("seL4_X86_EPTPTObject", "EptPt", Some("VTX")),
];

/// One object type present in this configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectType {
    pub c_name: &'static str,
    pub rust_name: &'static str,
    pub id: u64,
}

/// The object types of this configuration, numbered.
pub fn object_types(cfg: &KernelConfig) -> Vec<ObjectType> {
    SEQUENCE
        .iter()
        .filter(|(_, _, opt)| opt.is_none_or(|o| cfg.is_defined(o)))
        .enumerate()
        .map(|(i, (c, r, _))| ObjectType {
            c_name: c,
            rust_name: r,
            id: i as u64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_page_shifts_frame_ids() {
        let with = object_types(&KernelConfig::parse("CONFIG_HUGE_PAGE=y\nCONFIG_IOMMU=y\n"));
        let without = object_types(&KernelConfig::parse(""));
        let id = |v: &[ObjectType], n| v.iter().find(|o| o.rust_name == n).map(|o| o.id);
        assert_eq!(id(&with, "SmallPage"), Some(8));
        assert_eq!(id(&without, "SmallPage"), Some(7));
        assert_eq!(id(&with, "IoPageTable"), Some(12));
        assert_eq!(id(&without, "IoPageTable"), None);
    }
}
