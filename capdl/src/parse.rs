//! The capDL text parser (capDL-tool's language, x86_64 subset).
//!
//! Parsing happens in two steps: the grammar is read into declarations,
//! then the declarations are applied to a [`Spec`] through its checked API,
//! so a well-formed text that describes an impossible spec (a cap to an
//! undeclared object, a frame in a PML4) is refused with the position of the
//! offending declaration. Objects may be used before they are declared, as
//! in capDL-tool, and `objects`/`caps`/`irq maps` sections may come in any
//! order and more than once.

mod error;
mod lex;
mod objects;

use alloc::string::String;
use alloc::vec::Vec;

pub use error::{Found, ParseError, ParseErrorKind, Unsupported};
use lex::{tokenize, Pos, Tok, Token};
use objects::{build_kind, ObjParam, Value, BITS, KEYED_PARAMS, SIZE};

use crate::model::{Arch, Asid, Cap, FrameMapping, ObjectKind, ObjectType, Rights};
use crate::spec::{tcb_slot, ModelError, Spec};

/// Parses capDL text into a [`Spec`].
pub fn parse(text: &str) -> Result<Spec, ParseError> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        at: 0,
        objects: Vec::new(),
        cap_blocks: Vec::new(),
        irqs: Vec::new(),
    };
    let arch = parser.header()?;
    while parser.peek() != &Tok::Eof {
        parser.section()?;
    }
    parser.build(arch)
}

struct ObjectDecl {
    name: String,
    kind: ObjectKind,
    pos: Pos,
}

struct CapBlock {
    container: String,
    pos: Pos,
    entries: Vec<(u64, Cap, Pos)>,
}

struct IrqEntry {
    irq: u64,
    object: String,
    pos: Pos,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    objects: Vec<ObjectDecl>,
    cap_blocks: Vec<CapBlock>,
    irqs: Vec<IrqEntry>,
}

fn error_at(pos: Pos, kind: ParseErrorKind) -> ParseError {
    ParseError {
        line: pos.line,
        column: pos.column,
        kind,
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.peek_n(0)
    }

    fn peek_n(&self, n: usize) -> &Tok {
        self.tokens.get(self.at + n).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn pos(&self) -> Pos {
        self.tokens[self.at.min(self.tokens.len() - 1)].pos
    }

    fn advance(&mut self) {
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
    }

    fn error(&self, kind: ParseErrorKind) -> ParseError {
        error_at(self.pos(), kind)
    }

    fn unexpected(&self, expected: &'static str) -> ParseError {
        let found = match self.peek() {
            Tok::Ident(s) => Found::Identifier(s.clone()),
            Tok::Number(n) => Found::Number(*n),
            Tok::Sym(s) => Found::Symbol(s),
            Tok::Eof => Found::EndOfInput,
        };
        self.error(ParseErrorKind::Unexpected { expected, found })
    }

    fn unsupported(&self, what: Unsupported) -> ParseError {
        self.error(ParseErrorKind::Unsupported(what))
    }

    fn at_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Tok::Sym(s) if *s == sym)
    }

    fn eat(&mut self, sym: &str) -> bool {
        let found = self.at_sym(sym);
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, sym: &str, expected: &'static str) -> Result<(), ParseError> {
        if self.eat(sym) {
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn ident(&mut self, expected: &'static str) -> Result<(String, Pos), ParseError> {
        let pos = self.pos();
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.advance();
                Ok((s, pos))
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn number(&mut self, expected: &'static str) -> Result<u64, ParseError> {
        match *self.peek() {
            Tok::Number(n) => {
                self.advance();
                Ok(n)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    /// After a name: refuses the name forms this parser does not take.
    fn plain_name_follows(&self) -> Result<(), ParseError> {
        if self.at_sym("[") {
            Err(self.unsupported(Unsupported::ObjectArrays))
        } else if self.at_sym("/") {
            Err(self.unsupported(Unsupported::QualifiedNames))
        } else {
            Ok(())
        }
    }

    /// `arch x86_64`
    fn header(&mut self) -> Result<Arch, ParseError> {
        if self.peek() != &Tok::Ident("arch".into()) {
            return Err(self.unexpected("`arch`"));
        }
        self.advance();
        let (word, pos) = self.ident("an architecture name")?;
        Arch::from_keyword(&word).ok_or_else(|| error_at(pos, ParseErrorKind::UnknownArch(word)))
    }

    fn section(&mut self) -> Result<(), ParseError> {
        let (word, pos) = self.ident("a section (`objects`, `caps` or `irq maps`)")?;
        match word.as_str() {
            "objects" => self.objects_section(),
            "caps" => self.caps_section(),
            "irq_maps" => self.irq_section(),
            "irq" if self.peek() == &Tok::Ident("maps".into()) => {
                self.advance();
                self.irq_section()
            }
            "cdt" => Err(error_at(
                pos,
                ParseErrorKind::Unsupported(Unsupported::CdtSection),
            )),
            "domains" => Err(error_at(
                pos,
                ParseErrorKind::Unsupported(Unsupported::DomainsSection),
            )),
            _ => Err(error_at(pos, ParseErrorKind::UnknownSection(word))),
        }
    }

    fn objects_section(&mut self) -> Result<(), ParseError> {
        self.expect("{", "`{`")?;
        while !self.eat("}") {
            let (name, pos) = self.ident("an object name or `}`")?;
            self.plain_name_follows()?;
            self.expect("=", "`=`")?;
            let (word, type_pos) = self.ident("an object type")?;
            let ty = ObjectType::from_keyword(&word)
                .ok_or_else(|| error_at(type_pos, ParseErrorKind::UnknownObjectType(word)))?;
            let params = if self.eat("(") {
                self.object_params()?
            } else {
                Vec::new()
            };
            if self.at_sym("{") {
                return Err(self.unsupported(Unsupported::UntypedCovers));
            }
            let kind = build_kind(ty, &params, type_pos)?;
            self.objects.push(ObjectDecl { name, kind, pos });
        }
        Ok(())
    }

    /// The parameters after `(`, through `)`.
    fn object_params(&mut self) -> Result<Vec<ObjParam>, ParseError> {
        let mut params = Vec::new();
        if self.eat(")") {
            return Ok(params);
        }
        loop {
            params.push(self.object_param()?);
            if !self.eat(",") {
                self.expect(")", "`,` or `)`")?;
                return Ok(params);
            }
        }
    }

    fn object_param(&mut self) -> Result<ObjParam, ParseError> {
        let pos = self.pos();
        if let Tok::Number(n) = *self.peek() {
            self.advance();
            let (unit, unit_pos) = self.ident("`bits`, `k`, `M` or `G`")?;
            let (name, shift) = match unit.as_str() {
                "bits" => (BITS, 0),
                "k" if self.peek() == &Tok::Ident("ports".into()) => {
                    return Err(self.unsupported(Unsupported::PortsSize))
                }
                "k" => (SIZE, 10),
                "M" => (SIZE, 20),
                "G" => (SIZE, 30),
                _ => {
                    let found = Found::Identifier(unit);
                    let expected = "`bits`, `k`, `M` or `G`";
                    return Err(error_at(
                        unit_pos,
                        ParseErrorKind::Unexpected { expected, found },
                    ));
                }
            };
            let value = n.checked_mul(1 << shift).ok_or_else(|| {
                error_at(
                    pos,
                    ParseErrorKind::ValueTooLarge {
                        param: name,
                        value: n,
                    },
                )
            })?;
            return Ok(ObjParam {
                name,
                value: Value::Num(value),
                pos,
            });
        }
        let (word, pos) = self.ident("an object parameter")?;
        let Some(&(_, name)) = KEYED_PARAMS.iter().find(|(w, _)| *w == word) else {
            return Err(error_at(pos, ParseErrorKind::UnknownParam(word)));
        };
        self.expect(":", "`:`")?;
        let value = if word == "ports" {
            self.expect("[", "`[`")?;
            let first = self.number("the first port")?;
            self.expect("..", "`..`")?;
            let last = self.number("the last port")?;
            self.expect("]", "`]`")?;
            Value::Range(first, last)
        } else {
            Value::Num(self.number("a number")?)
        };
        Ok(ObjParam { name, value, pos })
    }

    fn caps_section(&mut self) -> Result<(), ParseError> {
        self.expect("{", "`{`")?;
        while !self.eat("}") {
            let (container, pos) = self.ident("an object name or `}`")?;
            if self.at_sym("=") {
                return Err(self.unsupported(Unsupported::CapNames));
            }
            self.plain_name_follows()?;
            self.expect("{", "`{`")?;
            let mut entries = Vec::new();
            let mut next_slot = 0u64;
            while !self.eat("}") {
                let entry_pos = self.pos();
                let slot = self.slot_prefix()?.unwrap_or(next_slot);
                if matches!(self.peek(), Tok::Ident(_)) && self.peek_n(1) == &Tok::Sym("=") {
                    return Err(self.unsupported(Unsupported::CapNames));
                }
                if self.at_sym("<") {
                    return Err(self.unsupported(Unsupported::CapCopies));
                }
                let (target, _) = self.ident("a cap target or `}`")?;
                self.plain_name_follows()?;
                let mut cap = Cap::new(target);
                if self.eat("(") {
                    self.cap_params(&mut cap)?;
                }
                if self.at_sym("-") {
                    return Err(self.unsupported(Unsupported::CapParents));
                }
                self.eat(";");
                next_slot = slot.saturating_add(1);
                entries.push((slot, cap, entry_pos));
            }
            self.cap_blocks.push(CapBlock {
                container,
                pos,
                entries,
            });
        }
        Ok(())
    }

    /// An optional `slot:` before a cap: a number or a symbolic TCB slot.
    fn slot_prefix(&mut self) -> Result<Option<u64>, ParseError> {
        if self.peek_n(1) != &Tok::Sym(":") {
            return Ok(None);
        }
        let slot = self.slot()?;
        self.advance();
        Ok(Some(slot))
    }

    /// A slot: a number or one of the symbolic TCB slot names.
    fn slot(&mut self) -> Result<u64, ParseError> {
        if let Tok::Number(n) = *self.peek() {
            self.advance();
            return Ok(n);
        }
        let (word, pos) = self.ident("a slot number or name")?;
        tcb_slot::NAMES
            .iter()
            .find(|(name, _)| *name == word)
            .map(|&(_, slot)| slot)
            .ok_or_else(|| error_at(pos, ParseErrorKind::UnknownSlotName(word)))
    }

    /// The cap parameters after `(`, through `)`.
    fn cap_params(&mut self, cap: &mut Cap) -> Result<(), ParseError> {
        let mut seen: Vec<&'static str> = Vec::new();
        loop {
            let (word, pos) = self.ident("a cap parameter")?;
            if let Some(mut rights) = Rights::from_word(&word) {
                // capDL-tool reads rights letter by letter, so `R W` is `RW`.
                while let Some(more) = self.rights_word() {
                    rights = rights | more;
                }
                cap.rights = cap.rights | rights;
            } else {
                let name = self.cap_param(&word, pos, cap)?;
                if seen.contains(&name) {
                    return Err(error_at(pos, ParseErrorKind::DuplicateParam(name)));
                }
                seen.push(name);
            }
            if !self.eat(",") {
                return self.expect(")", "`,` or `)`");
            }
        }
    }

    /// Takes the next token if it is a word of rights letters.
    fn rights_word(&mut self) -> Option<Rights> {
        let Tok::Ident(word) = self.peek() else {
            return None;
        };
        let rights = Rights::from_word(word)?;
        self.advance();
        Some(rights)
    }

    /// One named cap parameter (its word already read); returns the name
    /// errors use for it.
    fn cap_param(
        &mut self,
        word: &str,
        pos: Pos,
        cap: &mut Cap,
    ) -> Result<&'static str, ParseError> {
        let name = match word {
            "badge" => {
                self.expect(":", "`:`")?;
                cap.badge = self.number("a badge")?;
                "`badge`"
            }
            "guard" => {
                self.expect(":", "`:`")?;
                cap.guard = self.number("a guard")?;
                "`guard`"
            }
            "guard_size" => {
                self.expect(":", "`:`")?;
                let at = self.pos();
                let size = self.number("a guard size")?;
                cap.guard_size = u8::try_from(size)
                    .ok()
                    .filter(|&s| s <= 64)
                    .ok_or_else(|| {
                        error_at(
                            at,
                            ParseErrorKind::ValueTooLarge {
                                param: "`guard_size`",
                                value: size,
                            },
                        )
                    })?;
                "`guard_size`"
            }
            "asid" => {
                self.expect(":", "`:`")?;
                self.expect("(", "`(`")?;
                let high = self.number("the ASID pool number")?;
                self.expect(",", "`,`")?;
                let low = self.number("the ASID index")?;
                self.expect(")", "`)`")?;
                cap.asid = Some(Asid { high, low });
                "`asid`"
            }
            "cached" | "uncached" => {
                cap.cached = word == "cached";
                "`cached`/`uncached`"
            }
            "mapping" => {
                self.expect(":", "`:`")?;
                self.expect("(", "`(`")?;
                let (table, _) = self.ident("a page-table name")?;
                self.expect(",", "`,`")?;
                let slot = self.slot()?;
                self.expect(")", "`)`")?;
                cap.mapping = Some(FrameMapping { table, slot });
                "`mapping`"
            }
            "masked" => {
                return Err(error_at(
                    pos,
                    ParseErrorKind::Unsupported(Unsupported::MaskedRights),
                ))
            }
            "reply" | "master_reply" => {
                return Err(error_at(
                    pos,
                    ParseErrorKind::Unsupported(Unsupported::ReplyCaps),
                ))
            }
            "ports" => {
                return Err(error_at(
                    pos,
                    ParseErrorKind::Unsupported(Unsupported::CapPorts),
                ))
            }
            _ => return Err(error_at(pos, ParseErrorKind::UnknownParam(word.into()))),
        };
        Ok(name)
    }

    fn irq_section(&mut self) -> Result<(), ParseError> {
        self.expect("{", "`{`")?;
        let mut next = 0u64;
        while !self.eat("}") {
            let irq = match (self.peek(), self.peek_n(1)) {
                (&Tok::Number(n), Tok::Sym(":")) => {
                    self.advance();
                    self.advance();
                    n
                }
                _ => next,
            };
            let (object, pos) = self.ident("an irq object name or `}`")?;
            self.plain_name_follows()?;
            self.eat(";");
            next = irq.saturating_add(1);
            self.irqs.push(IrqEntry { irq, object, pos });
        }
        Ok(())
    }

    /// Applies the declarations to a fresh spec: objects first (so caps may
    /// name objects declared later in the text), then IRQs, then caps.
    fn build(self, arch: Arch) -> Result<Spec, ParseError> {
        let mut spec = Spec::new(arch);
        let model = |pos: Pos| move |e: ModelError| error_at(pos, ParseErrorKind::Model(e));
        for decl in self.objects {
            spec.add_object(decl.name, decl.kind)
                .map_err(model(decl.pos))?;
        }
        for entry in self.irqs {
            spec.map_irq(entry.irq, &entry.object)
                .map_err(model(entry.pos))?;
        }
        for block in self.cap_blocks {
            // Faults of the container itself point at the block's name.
            let object_type = match spec.kind(&block.container) {
                None => {
                    let e = ModelError::UnknownObject(block.container);
                    return Err(model(block.pos)(e));
                }
                Some(kind) => kind.object_type(),
            };
            if !object_type.holds_caps() {
                let object = block.container;
                let e = ModelError::NoCapSlots {
                    object,
                    object_type,
                };
                return Err(model(block.pos)(e));
            }
            for (slot, cap, pos) in block.entries {
                spec.insert_cap(&block.container, slot, cap)
                    .map_err(model(pos))?;
            }
        }
        Ok(spec)
    }
}
