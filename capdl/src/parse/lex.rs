//! The capDL lexer: identifiers, numbers and symbols, with `--` line comments
//! and nested `/* */` comments skipped, each token tagged with its line and
//! column so that every parse error can point at its cause.
//!
//! It follows capDL-tool's (Parsec) token rules: identifiers start with a
//! letter and go on with letters, digits, `_`, `@`, `.` and `-`; numbers are
//! decimal, `0x` hexadecimal or `0o` octal (a leading `0` alone does not
//! make a number octal there, whatever the language document says).

use alloc::string::String;
use alloc::vec::Vec;

use super::{ParseError, ParseErrorKind};

/// A position in the input, 1-based; columns count characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    Number(u64),
    /// One of `{ } ( ) [ ] : , = ; < > / - ..`.
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

const SYMBOLS: [&str; 13] = [
    "{", "}", "(", ")", "[", "]", ":", ",", "=", ";", "<", ">", "/",
];

struct Lexer<'a> {
    chars: core::iter::Peekable<core::str::Chars<'a>>,
    pos: Pos,
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn peek2(&self) -> Option<char> {
        let mut ahead = self.chars.clone();
        ahead.next();
        ahead.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    fn error(pos: Pos, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: pos.line,
            column: pos.column,
            kind,
        }
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('-'), Some('-')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => self.skip_block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    /// Skips a `/* */` comment, which may nest.
    fn skip_block_comment(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let mut depth = 0u32;
        loop {
            match (self.peek(), self.peek2()) {
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    depth += 1;
                }
                (Some('*'), Some('/')) => {
                    self.bump();
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                (Some(_), _) => {
                    self.bump();
                }
                (None, _) => return Err(Self::error(start, ParseErrorKind::UnterminatedComment)),
            }
        }
    }

    fn number(&mut self) -> Result<u64, ParseError> {
        let start = self.pos;
        let radix = match (self.peek(), self.peek2()) {
            (Some('0'), Some('x' | 'X')) => 16,
            (Some('0'), Some('o' | 'O')) => 8,
            _ => 10,
        };
        if radix != 10 {
            self.bump();
            self.bump();
        }
        let mut value: u64 = 0;
        let mut digits = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(radix)) {
            self.bump();
            digits += 1;
            value = value
                .checked_mul(radix.into())
                .and_then(|v| v.checked_add(d.into()))
                .ok_or_else(|| Self::error(start, ParseErrorKind::NumberTooLarge))?;
        }
        if digits == 0 {
            // `0x` with nothing after it.
            let found = self.peek().unwrap_or(' ');
            return Err(Self::error(
                self.pos,
                ParseErrorKind::UnexpectedCharacter(found),
            ));
        }
        Ok(value)
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        self.skip_trivia()?;
        let pos = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = if c.is_ascii_alphabetic() {
            let mut word = String::new();
            while let Some(c) = self
                .peek()
                .filter(|&c| c.is_ascii_alphanumeric() || "_@.-".contains(c))
            {
                word.push(c);
                self.bump();
            }
            Tok::Ident(word)
        } else if c.is_ascii_digit() {
            Tok::Number(self.number()?)
        } else if c == '.' && self.peek2() == Some('.') {
            self.bump();
            self.bump();
            Tok::Sym("..")
        } else if c == '-' {
            self.bump();
            Tok::Sym("-")
        } else if let Some(sym) = SYMBOLS.iter().find(|s| s.starts_with(c)) {
            self.bump();
            Tok::Sym(sym)
        } else {
            return Err(Self::error(pos, ParseErrorKind::UnexpectedCharacter(c)));
        };
        Ok(Token { tok, pos })
    }
}

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        pos: Pos { line: 1, column: 1 },
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let end = token.tok == Tok::Eof;
        tokens.push(token);
        if end {
            return Ok(tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn toks(text: &str) -> Vec<Tok> {
        tokenize(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn comments_and_numbers() {
        assert_eq!(
            toks("a -- x\n/* b /* nested */ c */ 0x1f 0o17 017 [1..2]"),
            vec![
                Tok::Ident("a".into()),
                Tok::Number(31),
                Tok::Number(15),
                Tok::Number(17),
                Tok::Sym("["),
                Tok::Number(1),
                Tok::Sym(".."),
                Tok::Number(2),
                Tok::Sym("]"),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions_and_errors() {
        let t = tokenize("x\n  yy").unwrap();
        assert_eq!(t[1].pos, Pos { line: 2, column: 3 });
        let e = tokenize("a\n /* open").unwrap_err();
        assert_eq!((e.line, e.column), (2, 2));
        assert_eq!(e.kind, ParseErrorKind::UnterminatedComment);
        let e = tokenize("99999999999999999999").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NumberTooLarge);
        let e = tokenize("a # b").unwrap_err();
        assert_eq!(
            (e.column, e.kind),
            (3, ParseErrorKind::UnexpectedCharacter('#'))
        );
    }
}
