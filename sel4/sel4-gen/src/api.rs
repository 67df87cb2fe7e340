//! The object API described by libsel4's interface XML files: interfaces,
//! their methods, parameter types, and the invocation label each enabled
//! method receives.

use crate::config::KernelConfig;
use crate::{cond, GenError};
use std::path::PathBuf;

/// Word size of x86_64, the only architecture we generate for.
pub const WORD_BITS: u32 = 64;

/// How a parameter type travels in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    /// An integer of `bits` bits (1 for `seL4_Bool`, which is packed into a
    /// single bit exactly as libsel4 does). `rust` is the Rust type name.
    Scalar {
        c: String,
        bits: u32,
        rust: &'static str,
    },
    /// A one-word bitfield or attribute type with a Rust newtype.
    Newtype { c: String, rust: &'static str },
    /// A capability: travels in the extra-caps area, not in message words.
    /// `marker` is the `cap_type` marker name.
    Cap { c: String, marker: String },
    /// A multi-word structure passed by reference.
    Struct {
        c: String,
        words: u32,
        rust: &'static str,
    },
}

impl ParamType {
    /// Size in message bits (zero for caps, which use no message words).
    pub fn bits(&self) -> u32 {
        match self {
            ParamType::Scalar { bits, .. } => *bits,
            ParamType::Newtype { .. } => WORD_BITS,
            ParamType::Cap { .. } => 0,
            ParamType::Struct { words, .. } => words * WORD_BITS,
        }
    }

    /// Maps a C type name from the XML to its transport class.
    pub fn from_c(name: &str) -> Result<Self, GenError> {
        let scalar = |bits, rust| ParamType::Scalar {
            c: name.into(),
            bits,
            rust,
        };
        let newtype = |rust| ParamType::Newtype {
            c: name.into(),
            rust,
        };
        Ok(match name {
            "seL4_Word" => scalar(64, "Word"),
            "seL4_Uint64" => scalar(64, "u64"),
            "seL4_Uint32" => scalar(32, "u32"),
            "seL4_Uint16" => scalar(16, "u16"),
            "seL4_Uint8" => scalar(8, "u8"),
            "int" => scalar(32, "i32"),
            "long" => scalar(64, "i64"),
            "seL4_Bool" => scalar(1, "bool"),
            "seL4_CapData_t" => newtype("CapData"),
            "seL4_PrioProps_t" => newtype("PrioProps"),
            "seL4_CapRights_t" => newtype("CapRights"),
            "seL4_X86_VMAttributes" => newtype("VmAttributes"),
            "seL4_UserContext" => ParamType::Struct {
                c: name.into(),
                words: 19,
                rust: "UserContext",
            },
            "seL4_VCPUContext" => ParamType::Struct {
                c: name.into(),
                words: 7,
                rust: "VcpuContext",
            },
            c if is_cap_type(c) => ParamType::Cap {
                c: name.into(),
                marker: marker_for(c),
            },
            _ => return Err(GenError::Schema(format!("unknown parameter type {name}"))),
        })
    }
}

fn is_cap_type(c: &str) -> bool {
    c == "seL4_CPtr"
        || c == "seL4_CNode"
        || c == "seL4_TCB"
        || c == "seL4_Untyped"
        || c == "seL4_IRQHandler"
        || c == "seL4_IRQControl"
        || c == "seL4_DomainSet"
        || c.starts_with("seL4_X86_")
        || c.starts_with("seL4_X64_")
}

/// The `cap_type` marker for a C cap or interface name:
/// `seL4_TCB` → `Tcb`, `seL4_X86_ASIDPool` → `AsidPool`, `seL4_CPtr` →
/// `Unspecified`.
pub fn marker_for(c: &str) -> String {
    if c == "seL4_CPtr" {
        return "Unspecified".into();
    }
    let snake = short_snake(c);
    if snake == "cnode" {
        return "CNode".into();
    }
    snake
        .split('_')
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `seL4_X86_IOPageTable` → `io_page_table`: drops the `seL4_` and
/// architecture prefixes and converts CamelCase with acronyms to snake case.
pub fn short_snake(c: &str) -> String {
    let mut s = c.strip_prefix("seL4_").unwrap_or(c);
    for p in ["X86_", "X64_"] {
        s = s.strip_prefix(p).unwrap_or(s);
    }
    camel_to_snake(&s.replace("CNode", "Cnode"))
}

/// CamelCase (with runs of capitals as acronyms) to snake_case:
/// `GetIOAPIC` → `get_ioapic`, `SetIPCBuffer` → `set_ipc_buffer`.
pub fn camel_to_snake(s: &str) -> String {
    let cs: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in cs.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = cs[i - 1];
            let next_lower = cs.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// One method parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
}

/// One invocation.
#[derive(Debug, Clone)]
pub struct Method {
    /// C interface name, e.g. `seL4_TCB`.
    pub interface: String,
    /// Method name, e.g. `ReadRegisters`.
    pub name: String,
    /// Label id, e.g. `TCBReadRegisters`.
    pub id: String,
    /// The `condition` attribute ("" when always present).
    pub condition: String,
    /// Whether the condition holds for this configuration.
    pub enabled: bool,
    /// Invocation label, for enabled methods only.
    pub label: Option<u64>,
    pub inputs: Vec<Param>,
    pub outputs: Vec<Param>,
}

impl Method {
    /// The C function name libsel4 gives this invocation.
    pub fn c_name(&self) -> String {
        format!("{}_{}", self.interface, self.name)
    }

    /// The Rust method name: `seL4_TCB_ReadRegisters` → `tcb_read_registers`.
    pub fn rust_name(&self) -> String {
        format!(
            "{}_{}",
            short_snake(&self.interface),
            camel_to_snake(&self.name)
        )
    }
}

/// Every method of the three interface files, numbered.
#[derive(Debug, Clone)]
pub struct Api {
    pub methods: Vec<Method>,
}

impl Api {
    /// Parses the interface files in libsel4 order (generic, sel4_arch,
    /// arch) and assigns labels: `InvalidInvocation` is 0, then every
    /// enabled method in file order. A disabled method takes no number.
    pub fn from_files(files: &[(PathBuf, String)], cfg: &KernelConfig) -> Result<Api, GenError> {
        let mut methods = Vec::new();
        let mut next = 1u64;
        for (path, text) in files {
            let doc =
                roxmltree::Document::parse(text).map_err(|e| GenError::Xml(path.clone(), e))?;
            for iface in doc.descendants().filter(|n| n.has_tag_name("interface")) {
                let iname = attr(&iface, "name")?;
                for m in iface.children().filter(|n| n.has_tag_name("method")) {
                    let condition = m.attribute("condition").unwrap_or("").to_string();
                    let enabled = cond::eval(&condition, cfg)?;
                    let label = enabled.then(|| {
                        next += 1;
                        next - 1
                    });
                    let mut inputs = Vec::new();
                    let mut outputs = Vec::new();
                    for p in m.children().filter(|n| n.has_tag_name("param")) {
                        let param = Param {
                            name: attr(&p, "name")?,
                            ty: ParamType::from_c(&attr(&p, "type")?)?,
                        };
                        match p.attribute("dir") {
                            Some("in") => inputs.push(param),
                            Some("out") => outputs.push(param),
                            d => return Err(GenError::Schema(format!("{iname}: param dir {d:?}"))),
                        }
                    }
                    methods.push(Method {
                        interface: iname.clone(),
                        name: attr(&m, "name")?,
                        id: attr(&m, "id")?,
                        condition,
                        enabled,
                        label,
                        inputs,
                        outputs,
                    });
                }
            }
        }
        Ok(Api { methods })
    }

    /// (label name, number) of every enabled method, in order.
    pub fn labels(&self) -> Vec<(String, u64)> {
        self.methods
            .iter()
            .filter_map(|m| m.label.map(|l| (m.id.clone(), l)))
            .collect()
    }

    /// Every cap marker the generated code mentions (interfaces and cap
    /// parameters), sorted and unique.
    pub fn markers(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for m in self.methods.iter().filter(|m| m.enabled) {
            v.push(marker_for(&m.interface));
            for p in m.inputs.iter().chain(&m.outputs) {
                if let ParamType::Cap { marker, .. } = &p.ty {
                    v.push(marker.clone());
                }
            }
        }
        v.sort();
        v.dedup();
        v
    }
}

fn attr(n: &roxmltree::Node, name: &str) -> Result<String, GenError> {
    n.attribute(name)
        .map(str::to_string)
        .ok_or_else(|| GenError::Schema(format!("<{}> without {name}", n.tag_name().name())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<api name="x">
      <interface name="seL4_TCB">
        <method id="TCBSuspend" name="Suspend"/>
        <method id="TCBSetAffinity" name="SetAffinity" condition="CONFIG_MAX_NUM_NODES > 1">
          <param dir="in" name="affinity" type="seL4_Word"/>
        </method>
        <method id="TCBResume" name="Resume"/>
      </interface>
      <interface name="seL4_X86_IOPort">
        <method id="X86IOPortIn8" name="In8">
          <param dir="out" name="result" type="seL4_Uint8"/>
          <param dir="in" name="port" type="seL4_Uint16"/>
        </method>
      </interface>
    </api>"#;

    fn api(cfg: &str) -> Api {
        Api::from_files(&[("t.xml".into(), XML.into())], &KernelConfig::parse(cfg)).unwrap()
    }

    #[test]
    fn disabled_methods_take_no_label() {
        let smp = api("CONFIG_MAX_NUM_NODES=4\n");
        assert_eq!(
            smp.labels(),
            vec![
                ("TCBSuspend".into(), 1),
                ("TCBSetAffinity".into(), 2),
                ("TCBResume".into(), 3),
                ("X86IOPortIn8".into(), 4)
            ]
        );
        let up = api("CONFIG_MAX_NUM_NODES=1\n");
        assert_eq!(
            up.labels(),
            vec![
                ("TCBSuspend".into(), 1),
                ("TCBResume".into(), 2),
                ("X86IOPortIn8".into(), 3)
            ]
        );
    }

    #[test]
    fn names() {
        assert_eq!(camel_to_snake("GetIOAPIC"), "get_ioapic");
        assert_eq!(camel_to_snake("SetIPCBuffer"), "set_ipc_buffer");
        assert_eq!(camel_to_snake("In8"), "in8");
        assert_eq!(short_snake("seL4_X86_IOPageTable"), "io_page_table");
        assert_eq!(short_snake("seL4_CNode"), "cnode");
        assert_eq!(marker_for("seL4_CNode"), "CNode");
        assert_eq!(marker_for("seL4_X86_ASIDPool"), "AsidPool");
        assert_eq!(marker_for("seL4_X64_PML4"), "Pml4");
        assert_eq!(marker_for("seL4_TCB"), "Tcb");
        assert_eq!(marker_for("seL4_CPtr"), "Unspecified");
        let a = api("CONFIG_MAX_NUM_NODES=4\n");
        assert_eq!(a.methods[3].rust_name(), "io_port_in8");
        assert_eq!(a.markers(), vec!["IoPort".to_string(), "Tcb".to_string()]);
    }

    #[test]
    fn unknown_types_are_errors() {
        let bad = r#"<api><interface name="seL4_TCB"><method id="A" name="A"><param dir="in" name="x" type="float"/></method></interface></api>"#;
        assert!(Api::from_files(&[("t".into(), bad.into())], &KernelConfig::default()).is_err());
    }
}
