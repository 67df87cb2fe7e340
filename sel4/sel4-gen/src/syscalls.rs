//! seL4 system call numbers from `syscall.xml`.
//!
//! Numbers count down from -1 through every listed syscall, whether or not
//! its condition holds (as libsel4's `syscall_header_gen.py` does); the
//! condition only says whether the kernel implements it.

use crate::config::KernelConfig;
use crate::{cond, GenError};
use std::path::Path;

/// One syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    pub name: String,
    pub number: i64,
    pub enabled: bool,
}

/// The syscall list.
#[derive(Debug, Clone)]
pub struct Syscalls {
    pub list: Vec<Syscall>,
}

impl Syscalls {
    /// Parses `syscall.xml` (`<api>` section first, then `<debug>`).
    pub fn parse(path: &Path, text: &str, cfg: &KernelConfig) -> Result<Self, GenError> {
        let doc =
            roxmltree::Document::parse(text).map_err(|e| GenError::Xml(path.to_path_buf(), e))?;
        let mut list = Vec::new();
        let mut n = -1i64;
        for section in ["api", "debug"] {
            let sec = doc
                .descendants()
                .find(|d| d.has_tag_name(section))
                .ok_or_else(|| GenError::Schema(format!("syscall.xml has no <{section}>")))?;
            for config in sec.children().filter(|c| c.has_tag_name("config")) {
                let enabled = cond::eval(config.attribute("condition").unwrap_or(""), cfg)?;
                for s in config.children().filter(|c| c.has_tag_name("syscall")) {
                    let name = s
                        .attribute("name")
                        .ok_or_else(|| GenError::Schema("syscall without name".into()))?;
                    list.push(Syscall {
                        name: name.into(),
                        number: n,
                        enabled,
                    });
                    n -= 1;
                }
            }
        }
        Ok(Syscalls { list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_down_through_disabled_ones() {
        let xml = r#"<syscalls><api><config><syscall name="Call"/><syscall name="ReplyRecv"/></config></api>
          <debug><config condition="defined CONFIG_DEBUG_BUILD"><syscall name="DebugPutChar"/></config>
          <config condition="defined CONFIG_X"><syscall name="X"/></config>
          <config condition="defined CONFIG_DEBUG_BUILD"><syscall name="DebugHalt"/></config></debug></syscalls>"#;
        let s = Syscalls::parse(
            Path::new("s"),
            xml,
            &KernelConfig::parse("CONFIG_DEBUG_BUILD=y\n"),
        )
        .unwrap();
        let v: Vec<_> = s
            .list
            .iter()
            .map(|s| (s.name.as_str(), s.number, s.enabled))
            .collect();
        assert_eq!(
            v,
            vec![
                ("Call", -1, true),
                ("ReplyRecv", -2, true),
                ("DebugPutChar", -3, true),
                ("X", -4, false),
                ("DebugHalt", -5, true)
            ]
        );
    }
}
