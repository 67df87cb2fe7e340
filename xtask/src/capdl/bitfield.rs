//! The kernel's bitfield definitions (`structures.bf`, preprocessed by the
//! kernel build into `structures.pbf`), read at run time so that raw caps and
//! page-table entries from the kernel's capDL dump are decoded with the
//! layout of the very kernel that was booted.
//!
//! The semantics are those of seL4's `tools/bitfield_gen.py`: a block's
//! fields are listed from the most significant bit of its last word down
//! to bit 0 of word 0; a `field_high` of n bits stores the top n bits of a
//! `base`-bit value (so it is shifted left by `base - n` when read) and is
//! sign-extended from bit `base - 1` when the base says so (`base 64(49,1)`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

/// Where a field sits and how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    /// Bit offset from bit 0 of word 0.
    offset: u32,
    size: u32,
    high: bool,
    base_bits: u32,
    sign_extend: bool,
}

/// All blocks and tagged unions of one `.pbf` file.
#[derive(Debug, Default)]
pub struct Bitfields {
    blocks: BTreeMap<String, BTreeMap<String, Field>>,
    /// Union name → (tag value → block name).
    unions: BTreeMap<String, BTreeMap<u64, String>>,
}

fn number(word: &str) -> Result<u32> {
    word.parse()
        .with_context(|| format!("`{word}` is not a number"))
}

impl Bitfields {
    /// Parses a preprocessed bitfield file.
    pub fn parse(text: &str) -> Result<Bitfields> {
        let mut out = Bitfields::default();
        let (mut base_bits, mut sign_extend) = (64, false);
        let mut lines = text
            .lines()
            .map(|l| l.split("--").next().unwrap_or("").trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .peekable();
        while let Some(line) = lines.next() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[0] {
                "base" => {
                    // `base 64` or `base 64(49,1)`
                    let spec = words[1..].concat();
                    match spec.split_once('(') {
                        None => (base_bits, sign_extend) = (number(&spec)?, false),
                        Some((_, rest)) => {
                            let (bits, ext) = rest
                                .trim_end_matches(')')
                                .split_once(',')
                                .context("bad base")?;
                            (base_bits, sign_extend) = (number(bits)?, ext.trim() == "1");
                        }
                    }
                }
                "block" => {
                    let name = words[1]
                        .split(['(', '{'])
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    // The header may run over several lines up to `{`.
                    let mut header = line.to_string();
                    while !header.contains('{') {
                        header = lines.next().context("block header never opens")?.into();
                    }
                    let mut entries: Vec<(Option<String>, u32, bool)> = Vec::new();
                    loop {
                        let l = lines.next().context("block never closes")?;
                        if l.starts_with('}') {
                            break;
                        }
                        let w: Vec<&str> = l.split_whitespace().collect();
                        match w.as_slice() {
                            ["padding", n] => entries.push((None, number(n)?, false)),
                            ["field", f, n] => {
                                entries.push((Some(f.to_string()), number(n)?, false))
                            }
                            ["field_high", f, n] => {
                                entries.push((Some(f.to_string()), number(n)?, true))
                            }
                            _ => bail!("unknown line in block {name}: `{l}`"),
                        }
                    }
                    let total: u32 = entries.iter().map(|e| e.1).sum();
                    let mut fields = BTreeMap::new();
                    let mut above = 0;
                    for (field, size, high) in entries {
                        above += size;
                        if let Some(f) = field {
                            let field = Field {
                                offset: total - above,
                                size,
                                high,
                                base_bits,
                                sign_extend,
                            };
                            fields.insert(f, field);
                        }
                    }
                    out.blocks.insert(name, fields);
                }
                "tagged_union" => {
                    let name = words[1].to_string();
                    let mut tags = BTreeMap::new();
                    loop {
                        let l = lines.next().context("tagged_union never closes")?;
                        if l.starts_with('}') {
                            break;
                        }
                        if let ["tag", t, n] = l.split_whitespace().collect::<Vec<_>>().as_slice() {
                            tags.insert(u64::from(number(n)?), t.to_string());
                        }
                    }
                    out.unions.insert(name, tags);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Reads `block.field` from `words` (word 0 first).
    pub fn get(&self, block: &str, field: &str, words: &[u64]) -> Result<u64> {
        let f = self
            .blocks
            .get(block)
            .and_then(|b| b.get(field))
            .with_context(|| format!("the kernel's bitfields have no {block}.{field}"))?;
        let (word, shift) = ((f.offset / 64) as usize, f.offset % 64);
        let raw = words.get(word).context("too few words")? >> shift;
        let mut value = if f.size == 64 {
            raw
        } else {
            raw & ((1u64 << f.size) - 1)
        };
        if f.high {
            value <<= f.base_bits - f.size;
            if f.sign_extend && f.base_bits < 64 && value & (1 << (f.base_bits - 1)) != 0 {
                value |= !((1u64 << f.base_bits) - 1);
            }
        }
        Ok(value)
    }

    /// The block a tag value of a tagged union names.
    pub fn tag_name(&self, union: &str, tag: u64) -> Option<&str> {
        self.unions.get(union)?.get(&tag).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BF: &str = "base 64(49,1)\n\
        block frame_cap {\n  field capFMappedASID 16\n  field_high capFBasePtr 48\n\
          field capType 5\n  field capFSize 2\n  field capFMapType 2\n\
          field_high capFMappedAddress 49\n  field capFVMRights 2\n  field capFIsDevice 1\n  padding 3\n}\n\
        block endpoint_cap(capEPBadge, capType,\n    capEPPtr) {\n  field capEPPtr 64\n  field capType 5\n\
          field capCanGrant 1\n  field capCanReceive 1\n  field capCanSend 1\n  padding 28\n  field capEPBadge 28\n}\n\
        tagged_union cap capType {\n  -- comment\n  tag endpoint_cap 4\n  tag frame_cap 1\n}\n\
        base 64(51,0)\n\
        block pte {\n  field xd 1\n  padding 11\n  padding 1\n  field_high page_base_address 39\n  padding 3\n\
          field global 1\n field pat 1\n field dirty 1\n field accessed 1\n field cache_disabled 1\n\
          field write_through 1\n field super_user 1\n field read_write 1\n field present 1\n}\n";

    #[test]
    fn decodes_like_the_generated_c() {
        let bf = Bitfields::parse(BF).unwrap();
        // From the generated getters: capFBasePtr = (words[1] & 0xffffffffffff) << 1,
        // sign-extended from bit 48; capType = words[0] >> 59;
        // capFMappedAddress = (words[0] & 0x7fffffffffffc0) >> 6.
        let words = [(1u64 << 59) | (3 << 4) | (0x20_0000 << 6), 0xffc0_0000_8000];
        assert_eq!(bf.get("frame_cap", "capType", &words).unwrap(), 1);
        assert_eq!(
            bf.get("frame_cap", "capFBasePtr", &words).unwrap(),
            0xffff_ff80_0001_0000
        );
        assert_eq!(bf.get("frame_cap", "capFVMRights", &words).unwrap(), 3);
        assert_eq!(
            bf.get("frame_cap", "capFMappedAddress", &words).unwrap(),
            0x20_0000
        );
        assert_eq!(bf.tag_name("cap", 4), Some("endpoint_cap"));
        let ep = [(4u64 << 59) | (1 << 58) | 7, 0xffff_ff80_0000_1230];
        assert_eq!(bf.get("endpoint_cap", "capEPBadge", &ep).unwrap(), 7);
        assert_eq!(bf.get("endpoint_cap", "capCanSend", &ep).unwrap(), 0);
        assert_eq!(bf.get("endpoint_cap", "capCanGrant", &ep).unwrap(), 1);
        assert_eq!(bf.get("endpoint_cap", "capEPPtr", &ep).unwrap(), ep[1]);
        let pte = [0x8000_0000_1234_5007u64];
        assert_eq!(
            bf.get("pte", "page_base_address", &pte).unwrap(),
            0x1234_5000
        );
        assert_eq!(bf.get("pte", "xd", &pte).unwrap(), 1);
        assert_eq!(bf.get("pte", "super_user", &pte).unwrap(), 1);
    }
}
