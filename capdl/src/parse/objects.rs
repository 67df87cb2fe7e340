//! Object declarations: their parameters as read, and the checks that turn
//! a type plus parameters into an [`ObjectKind`] (each parameter belongs to
//! the type, appears once and fits its field).

use super::lex::Pos;
use super::{error_at, ParseError, ParseErrorKind};
use crate::model::{FrameSize, ObjectKind, ObjectType, TcbAttrs};

/// A value given to an object parameter.
pub(super) enum Value {
    Num(u64),
    Range(u64, u64),
}

/// One parameter of an object declaration; `name` is how errors show it.
pub(super) struct ObjParam {
    pub name: &'static str,
    pub value: Value,
    pub pos: Pos,
}

/// `name:` parameters of objects, by their text and error names.
pub(super) const KEYED_PARAMS: [(&str, &str); 10] = [
    ("paddr", "`paddr`"),
    ("addr", "`addr`"),
    ("ip", "`ip`"),
    ("sp", "`sp`"),
    ("prio", "`prio`"),
    ("max_prio", "`max_prio`"),
    ("affinity", "`affinity`"),
    ("dom", "`dom`"),
    ("fault_ep", "`fault_ep`"),
    ("ports", "`ports`"),
];
pub(super) const BITS: &str = "`bits`";
pub(super) const SIZE: &str = "size";

/// Turns a declaration's type and parameters into an [`ObjectKind`],
/// checking that each parameter belongs to the type, appears once and fits.
pub(super) fn build_kind(
    ty: ObjectType,
    params: &[ObjParam],
    type_pos: Pos,
) -> Result<ObjectKind, ParseError> {
    let allowed: &[&str] = match ty {
        ObjectType::Tcb => &[
            "`addr`",
            "`ip`",
            "`sp`",
            "`prio`",
            "`max_prio`",
            "`affinity`",
            "`dom`",
            "`fault_ep`",
        ],
        ObjectType::CNode => &[BITS],
        ObjectType::Frame => &[SIZE, "`paddr`"],
        ObjectType::Untyped => &[BITS, "`paddr`"],
        ObjectType::IoPorts => &["`ports`"],
        _ => &[],
    };
    for (i, p) in params.iter().enumerate() {
        if !allowed.contains(&p.name) {
            let kind = ParseErrorKind::ParamNotAllowed {
                object_type: ty,
                param: p.name,
            };
            return Err(error_at(p.pos, kind));
        }
        if params[..i].iter().any(|q| q.name == p.name) {
            return Err(error_at(p.pos, ParseErrorKind::DuplicateParam(p.name)));
        }
    }
    let find = |name: &str| params.iter().find(|p| p.name == name);
    let num = |name: &'static str, max: u64| -> Result<Option<u64>, ParseError> {
        match find(name) {
            None => Ok(None),
            Some(&ObjParam {
                value: Value::Num(v),
                ..
            }) if v <= max => Ok(Some(v)),
            Some(p) => {
                let value = match p.value {
                    Value::Num(v) | Value::Range(v, _) => v,
                };
                Err(error_at(
                    p.pos,
                    ParseErrorKind::ValueTooLarge { param: name, value },
                ))
            }
        }
    };
    let missing = |param| {
        error_at(
            type_pos,
            ParseErrorKind::MissingParam {
                object_type: ty,
                param,
            },
        )
    };
    // The casts below cannot truncate: `num` has checked the bound.
    let small = |name, max: u64| Ok::<_, ParseError>(num(name, max)?.map(|v| v as u32));
    Ok(match ty {
        ObjectType::Tcb => ObjectKind::Tcb(TcbAttrs {
            ipc_buffer_addr: num("`addr`", u64::MAX)?,
            ip: num("`ip`", u64::MAX)?,
            sp: num("`sp`", u64::MAX)?,
            prio: small("`prio`", 255)?.map(|v| v as u8),
            max_prio: small("`max_prio`", 255)?.map(|v| v as u8),
            affinity: small("`affinity`", u32::MAX.into())?,
            domain: small("`dom`", u32::MAX.into())?,
            fault_ep: num("`fault_ep`", u64::MAX)?,
        }),
        ObjectType::CNode => ObjectKind::CNode {
            size_bits: small(BITS, 64)?.ok_or_else(|| missing(BITS))? as u8,
        },
        ObjectType::Untyped => ObjectKind::Untyped {
            size_bits: small(BITS, 64)?.map(|v| v as u8),
            paddr: num("`paddr`", u64::MAX)?,
        },
        ObjectType::Frame => {
            let p = find(SIZE).ok_or_else(|| missing(SIZE))?;
            let bytes = num(SIZE, u64::MAX)?.unwrap_or_default();
            let size = FrameSize::from_bytes(bytes)
                .ok_or_else(|| error_at(p.pos, ParseErrorKind::BadFrameSize(bytes)))?;
            ObjectKind::Frame {
                size,
                paddr: num("`paddr`", u64::MAX)?,
            }
        }
        ObjectType::IoPorts => {
            let p = find("`ports`").ok_or_else(|| missing("`ports`"))?;
            let Value::Range(first, last) = p.value else {
                unreachable!("`ports:` is always read as a range")
            };
            if first > last || last > 0xffff {
                return Err(error_at(
                    p.pos,
                    ParseErrorKind::BadPortRange { first, last },
                ));
            }
            ObjectKind::IoPorts {
                first: first as u16,
                last: last as u16,
            }
        }
        ObjectType::Endpoint => ObjectKind::Endpoint,
        ObjectType::Notification => ObjectKind::Notification,
        ObjectType::Pml4 => ObjectKind::Pml4,
        ObjectType::Pdpt => ObjectKind::Pdpt,
        ObjectType::Pd => ObjectKind::Pd,
        ObjectType::Pt => ObjectKind::Pt,
        ObjectType::Irq => ObjectKind::Irq,
        ObjectType::AsidPool => ObjectKind::AsidPool,
    })
}
