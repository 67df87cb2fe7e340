//! Evaluates the C-preprocessor `condition` attributes of the interface XML
//! (`defined(CONFIG_VTX)`, `CONFIG_MAX_NUM_NODES > 1`, ...) and the
//! `#if`-style conditions of `syscall.xml` against a kernel configuration.
//!
//! Grammar (the subset the kernel's XML uses, with C precedence):
//! `or := and ("||" and)*`, `and := cmp ("&&" cmp)*`,
//! `cmp := unary (("=="|"!="|"<"|">"|"<="|">=") unary)?`,
//! `unary := "!" unary | "defined" ( "(" ident ")" | ident ) | "(" or ")" | ident | number`.

use crate::config::KernelConfig;
use crate::GenError;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(i64),
    Op(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, GenError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    const OPS: [&str; 11] = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")"];
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[st..i].to_string()));
        } else if c.is_ascii_digit() {
            let st = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let t = &s[st..i];
            let v = if let Some(h) = t.strip_prefix("0x") {
                i64::from_str_radix(h, 16).ok()
            } else {
                t.trim_end_matches(['u', 'U', 'l', 'L']).parse().ok()
            };
            out.push(Tok::Num(v.ok_or_else(|| {
                GenError::Condition(format!("bad number {t} in {s:?}"))
            })?));
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(GenError::Condition(format!(
                "unexpected {:?} in {s:?}",
                c as char
            )));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    cfg: &'a KernelConfig,
    src: &'a str,
}

impl Parser<'_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if *o == op)
    }
    fn expect_op(&mut self, op: &str) -> Result<(), GenError> {
        if self.peek_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {op:?}")))
        }
    }
    fn err(&self, what: &str) -> GenError {
        GenError::Condition(format!("{what} at token {} of {:?}", self.pos, self.src))
    }
    fn or(&mut self) -> Result<i64, GenError> {
        let mut v = self.and()?;
        while self.peek_op("||") {
            self.pos += 1;
            let r = self.and()?;
            v = ((v != 0) || (r != 0)) as i64;
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<i64, GenError> {
        let mut v = self.cmp()?;
        while self.peek_op("&&") {
            self.pos += 1;
            let r = self.cmp()?;
            v = ((v != 0) && (r != 0)) as i64;
        }
        Ok(v)
    }
    fn cmp(&mut self) -> Result<i64, GenError> {
        let l = self.unary()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.peek_op(op) {
                self.pos += 1;
                let r = self.unary()?;
                let b = match op {
                    "==" => l == r,
                    "!=" => l != r,
                    "<=" => l <= r,
                    ">=" => l >= r,
                    "<" => l < r,
                    _ => l > r,
                };
                return Ok(b as i64);
            }
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<i64, GenError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Op("!")) => {
                self.pos += 1;
                Ok((self.unary()? == 0) as i64)
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let v = self.or()?;
                self.expect_op(")")?;
                Ok(v)
            }
            Some(Tok::Ident(id)) if id == "defined" => {
                self.pos += 1;
                let paren = self.peek_op("(");
                if paren {
                    self.pos += 1;
                }
                let name = match self.toks.get(self.pos) {
                    Some(Tok::Ident(n)) => n.clone(),
                    _ => return Err(self.err("expected a name after defined")),
                };
                self.pos += 1;
                if paren {
                    self.expect_op(")")?;
                }
                Ok(self.cfg.is_defined(&name) as i64)
            }
            Some(Tok::Ident(id)) => {
                self.pos += 1;
                // As in cpp, an unknown identifier evaluates to 0.
                if id.starts_with("CONFIG_") {
                    self.cfg.int(&id)
                } else {
                    Ok(0)
                }
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.err("expected an operand")),
        }
    }
}

/// Evaluates `expr`; an empty condition is true.
pub fn eval(expr: &str, cfg: &KernelConfig) -> Result<bool, GenError> {
    if expr.trim().is_empty() {
        return Ok(true);
    }
    let toks = lex(expr)?;
    let mut p = Parser {
        toks,
        pos: 0,
        cfg,
        src: expr,
    };
    let v = p.or()?;
    if p.pos != p.toks.len() {
        return Err(p.err("trailing tokens"));
    }
    Ok(v != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> KernelConfig {
        KernelConfig::parse("CONFIG_MAX_NUM_NODES=8\nCONFIG_HUGE_PAGE=y\n# CONFIG_VTX is not set\n")
    }

    #[test]
    fn evaluates_kernel_conditions() {
        let c = cfg();
        assert!(eval("", &c).unwrap());
        assert!(eval("CONFIG_MAX_NUM_NODES > 1", &c).unwrap());
        assert!(!eval("defined(CONFIG_VTX)", &c).unwrap());
        assert!(eval("defined CONFIG_HUGE_PAGE", &c).unwrap());
        assert!(eval("!defined(CONFIG_VTX) && CONFIG_MAX_NUM_NODES >= 8", &c).unwrap());
        assert!(eval("defined(CONFIG_VTX) || (CONFIG_MAX_NUM_NODES == 8)", &c).unwrap());
        assert!(!eval("CONFIG_UNKNOWN", &c).unwrap());
        let one = KernelConfig::parse("CONFIG_MAX_NUM_NODES=1\n");
        assert!(!eval("CONFIG_MAX_NUM_NODES > 1", &one).unwrap());
    }

    #[test]
    fn rejects_garbage() {
        let c = cfg();
        assert!(eval("defined(", &c).is_err());
        assert!(eval("1 +", &c).is_err());
        assert!(eval("(1", &c).is_err());
        assert!(eval("1 1", &c).is_err());
    }
}
