//! Where each parameter sits in an invocation's message words.
//!
//! The rule is libsel4's (`get_parameter_positions` in its stub generator):
//! parameters are laid out in order, each aligned to its own size or to a
//! word, whichever is smaller; `seL4_Bool` takes one bit. Caps travel in the
//! extra-caps area and take no bits. The kernel decodes messages with the
//! same layout, so any difference here is a wrong call.

use crate::api::{Param, WORD_BITS};

/// A parameter's place: first bit and width, in message bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot<'a> {
    pub param: &'a Param,
    pub first_bit: u32,
    pub bits: u32,
}

impl Slot<'_> {
    /// Index of the first message word.
    pub fn word(&self) -> u32 {
        self.first_bit / WORD_BITS
    }
    /// Bit offset inside that word.
    pub fn shift(&self) -> u32 {
        self.first_bit % WORD_BITS
    }
}

/// Lays out the non-cap parameters; returns the slots and the number of
/// message words used.
pub fn layout(params: &[Param]) -> (Vec<Slot<'_>>, u32) {
    let mut used = 0u32;
    let mut slots = Vec::new();
    for p in params {
        let bits = p.ty.bits();
        if bits == 0 {
            continue;
        }
        used = align_up(used, bits.min(WORD_BITS));
        slots.push(Slot {
            param: p,
            first_bit: used,
            bits,
        });
        used += bits;
    }
    (slots, used.div_ceil(WORD_BITS))
}

fn align_up(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ParamType;

    fn p(name: &str, c: &str) -> Param {
        Param {
            name: name.into(),
            ty: ParamType::from_c(c).unwrap(),
        }
    }

    #[test]
    fn read_registers_packs_bool_and_u8_into_one_word() {
        // seL4_TCB_ReadRegisters(suspend_source: Bool, arch_flags: Uint8, count: Word)
        let ps = [
            p("suspend_source", "seL4_Bool"),
            p("arch_flags", "seL4_Uint8"),
            p("count", "seL4_Word"),
        ];
        let (s, words) = layout(&ps);
        assert_eq!(words, 2);
        assert_eq!((s[0].first_bit, s[0].bits), (0, 1));
        assert_eq!((s[1].first_bit, s[1].bits), (8, 8));
        assert_eq!((s[2].word(), s[2].shift()), (1, 0));
    }

    #[test]
    fn caps_take_no_words_and_structs_take_many() {
        let ps = [
            p("resume", "seL4_Bool"),
            p("root", "seL4_CNode"),
            p("count", "seL4_Word"),
            p("regs", "seL4_UserContext"),
        ];
        let (s, words) = layout(&ps);
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].first_bit, 128);
        assert_eq!(words, 2 + 19);
    }

    #[test]
    fn u16_after_u8_aligns_to_16() {
        let ps = [p("a", "seL4_Uint8"), p("b", "seL4_Uint16"), p("c", "int")];
        let (s, words) = layout(&ps);
        assert_eq!(s[1].first_bit, 16);
        assert_eq!(s[2].first_bit, 32);
        assert_eq!(words, 1);
    }
}
