//! Just enough ELF64 reading for the image builder: a named section's
//! bytes (a module's `.modinfo`) and whether a binary asks for a dynamic
//! loader (`PT_INTERP`).

use anyhow::{bail, Context, Result};

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(
        b.get(at..at + 2).context("ELF truncated")?.try_into()?,
    ))
}
fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(
        b.get(at..at + 4).context("ELF truncated")?.try_into()?,
    ))
}
fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(
        b.get(at..at + 8).context("ELF truncated")?.try_into()?,
    ))
}

fn check_header(b: &[u8]) -> Result<()> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        bail!("not a little-endian ELF64 file");
    }
    Ok(())
}

/// The bytes of section `name`, if the file has it.
pub fn section<'a>(b: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    check_header(b)?;
    let shoff = u64_at(b, 0x28)? as usize;
    let shentsize = u16_at(b, 0x3a)? as usize;
    let shnum = u16_at(b, 0x3c)? as usize;
    let shstrndx = u16_at(b, 0x3e)? as usize;
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(b, sh(shstrndx) + 0x18)? as usize;
    for i in 0..shnum {
        let name_off = u32_at(b, sh(i))? as usize;
        let start = strtab + name_off;
        let end = b[start..]
            .iter()
            .position(|&c| c == 0)
            .context("section name not terminated")?;
        if &b[start..start + end] == name.as_bytes() {
            let off = u64_at(b, sh(i) + 0x18)? as usize;
            let size = u64_at(b, sh(i) + 0x20)? as usize;
            return Ok(Some(
                b.get(off..off + size).context("section outside the file")?,
            ));
        }
    }
    Ok(None)
}

/// Whether the file has a `PT_INTERP` program header (is dynamically
/// linked).
pub fn has_interpreter(b: &[u8]) -> Result<bool> {
    check_header(b)?;
    let phoff = u64_at(b, 0x20)? as usize;
    let phentsize = u16_at(b, 0x36)? as usize;
    let phnum = u16_at(b, 0x38)? as usize;
    for i in 0..phnum {
        if u32_at(b, phoff + i * phentsize)? == 3 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The modules a kernel module depends on, from its `.modinfo`
/// `depends=a,b` entry (names as the kernel spells them, with `_`).
pub fn module_depends(ko: &[u8]) -> Result<Vec<String>> {
    let Some(info) = section(ko, ".modinfo")? else {
        bail!("no .modinfo section");
    };
    Ok(info
        .split(|&c| c == 0)
        .filter_map(|kv| kv.strip_prefix(b"depends="))
        .flat_map(|list| list.split(|&c| c == b','))
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).replace('-', "_"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_binary() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(section(&me, ".text").unwrap().is_some());
        assert!(section(&me, ".no-such-section").unwrap().is_none());
        // The test binary is a normal dynamically linked host program.
        assert!(has_interpreter(&me).unwrap());
        assert!(section(b"not an elf", ".text").is_err());
    }
}
