//! The kernel's `.config`, as written by kconfiglib.

use crate::GenError;
use std::collections::BTreeMap;
use std::path::Path;

/// Values of a kernel `.config`: `CONFIG_X=y`, `CONFIG_N=8`, `CONFIG_S=".."`.
/// Options written as `# CONFIG_X is not set` are simply absent, exactly as
/// the C preprocessor sees them through `autoconf.h`.
#[derive(Debug, Clone, Default)]
pub struct KernelConfig {
    values: BTreeMap<String, String>,
}

impl KernelConfig {
    /// Reads a `.config` file.
    pub fn load(path: &Path) -> Result<Self, GenError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| GenError::Io(path.to_path_buf(), e))?;
        Ok(Self::parse(&text))
    }

    /// Parses `.config` text. Unknown line shapes are ignored, as Kconfig does.
    pub fn parse(text: &str) -> Self {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                if let Some(name) = k.strip_prefix("CONFIG_") {
                    values.insert(name.to_string(), v.trim_matches('"').to_string());
                }
            }
        }
        KernelConfig { values }
    }

    /// True when the option is defined (`y`, a number or a string), as
    /// `#ifdef CONFIG_X` would see it.
    pub fn is_defined(&self, name: &str) -> bool {
        let name = name.strip_prefix("CONFIG_").unwrap_or(name);
        self.values.get(name).is_some_and(|v| v != "n")
    }

    /// The numeric value of an option as the preprocessor sees it: `y` is 1,
    /// an undefined option is 0.
    pub fn int(&self, name: &str) -> Result<i64, GenError> {
        let name = name.strip_prefix("CONFIG_").unwrap_or(name);
        match self.values.get(name).map(String::as_str) {
            None | Some("n") => Ok(0),
            Some("y") => Ok(1),
            Some(v) => {
                parse_int(v).ok_or_else(|| GenError::Config(format!("{name}={v} is not a number")))
            }
        }
    }

    /// A numeric option that must be present.
    pub fn required_int(&self, name: &str) -> Result<i64, GenError> {
        if !self.is_defined(name) {
            return Err(GenError::Config(format!("CONFIG_{name} is missing")));
        }
        self.int(name)
    }

    /// Every option, for emitting the config module.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn parse_int(v: &str) -> Option<i64> {
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else {
        v.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kconfig_output() {
        let c = KernelConfig::parse(
            "# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_N=8\nCONFIG_H=0x10\nCONFIG_S=\"x\"\n",
        );
        assert!(c.is_defined("A"));
        assert!(c.is_defined("CONFIG_A"));
        assert!(!c.is_defined("B"));
        assert_eq!(c.int("N").unwrap(), 8);
        assert_eq!(c.int("H").unwrap(), 16);
        assert_eq!(c.int("B").unwrap(), 0);
        assert_eq!(c.int("A").unwrap(), 1);
        assert!(c.int("S").is_err());
        assert!(c.required_int("B").is_err());
    }
}
