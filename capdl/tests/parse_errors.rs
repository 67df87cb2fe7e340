//! Parse errors carry the line and column of their cause and a kind that
//! says what went wrong.

use capdl::{parse, CapParam, Found, ModelError, ObjectType, ParseErrorKind, Unsupported};

/// Parses `text`, which must fail, and returns (line, column, kind).
fn fail(text: &str) -> (u32, u32, ParseErrorKind) {
    match parse(text) {
        Ok(_) => panic!("parsed:\n{text}"),
        Err(e) => (e.line, e.column, e.kind),
    }
}

const HEAD: &str = "arch x86_64\n";

#[test]
fn header_errors() {
    assert_eq!(
        fail("objects {}"),
        (
            1,
            1,
            ParseErrorKind::Unexpected {
                expected: "`arch`",
                found: Found::Identifier("objects".into())
            }
        )
    );
    assert_eq!(
        fail("arch ia32"),
        (1, 6, ParseErrorKind::UnknownArch("ia32".into()))
    );
    assert_eq!(
        fail("arch x86_64\nstuff {}"),
        (2, 1, ParseErrorKind::UnknownSection("stuff".into()))
    );
    assert_eq!(
        fail("arch x86_64 cdt {}").2,
        ParseErrorKind::Unsupported(Unsupported::CdtSection)
    );
}

#[test]
fn lexical_errors() {
    assert_eq!(
        fail("arch x86_64\n  /* /* */"),
        (2, 3, ParseErrorKind::UnterminatedComment)
    );
    assert_eq!(
        fail("arch x86_64 $"),
        (1, 13, ParseErrorKind::UnexpectedCharacter('$'))
    );
    assert_eq!(
        fail("arch x86_64 objects { f = frame (4k, paddr: 0x10000000000000000) }").2,
        ParseErrorKind::NumberTooLarge
    );
}

#[test]
fn object_errors() {
    let cases: [(&str, (u32, u32, ParseErrorKind)); 9] = [
        (
            "objects {\n  x = vcpu\n}",
            (2, 7, ParseErrorKind::UnknownObjectType("vcpu".into())),
        ),
        (
            "objects {\n  c = cnode\n}",
            (
                2,
                7,
                ParseErrorKind::MissingParam {
                    object_type: ObjectType::CNode,
                    param: "`bits`",
                },
            ),
        ),
        (
            "objects { f = frame (8k) }",
            (1, 22, ParseErrorKind::BadFrameSize(8192)),
        ),
        (
            "objects { e = ep (paddr: 0) }",
            (
                1,
                19,
                ParseErrorKind::ParamNotAllowed {
                    object_type: ObjectType::Endpoint,
                    param: "`paddr`",
                },
            ),
        ),
        (
            "objects { t = tcb (prio: 1, prio: 2) }",
            (1, 29, ParseErrorKind::DuplicateParam("`prio`")),
        ),
        (
            "objects { t = tcb (prio: 256) }",
            (
                1,
                20,
                ParseErrorKind::ValueTooLarge {
                    param: "`prio`",
                    value: 256,
                },
            ),
        ),
        (
            "objects { t = tcb (elf: 1) }",
            (1, 20, ParseErrorKind::UnknownParam("elf".into())),
        ),
        (
            "objects { p = io_ports (ports: [0x400..0x3ff]) }",
            (
                1,
                25,
                ParseErrorKind::BadPortRange {
                    first: 0x400,
                    last: 0x3ff,
                },
            ),
        ),
        (
            "objects { a[4] = ep }",
            (
                1,
                12,
                ParseErrorKind::Unsupported(Unsupported::ObjectArrays),
            ),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            fail(&format!("{HEAD}{body}")),
            (expected.0 + 1, expected.1, expected.2),
            "{body}"
        );
    }
}

#[test]
fn model_errors_point_at_the_declaration() {
    let objects = "objects { c = cnode (2 bits) e = ep f = frame (4k) m = pml4 }\n";
    let cases: [(&str, (u32, u32, ParseErrorKind)); 6] = [
        (
            "caps { c {\n 0: nope\n} }",
            (
                4,
                2,
                ParseErrorKind::Model(ModelError::UnknownObject("nope".into())),
            ),
        ),
        (
            "caps { c { 0: e\n 0: e } }",
            (
                4,
                2,
                ParseErrorKind::Model(ModelError::SlotOccupied {
                    object: "c".into(),
                    slot: 0,
                }),
            ),
        ),
        (
            "caps { c { 4: e } }",
            (
                3,
                12,
                ParseErrorKind::Model(ModelError::SlotOutOfRange {
                    object: "c".into(),
                    slot: 4,
                    slots: 4,
                }),
            ),
        ),
        (
            "caps { m { 0: f } }",
            (
                3,
                12,
                ParseErrorKind::Model(ModelError::WrongTarget {
                    object: "m".into(),
                    slot: 0,
                    target: "f".into(),
                    target_type: Some(ObjectType::Frame),
                }),
            ),
        ),
        (
            "caps { c { 0: f (badge: 3) } }",
            (
                3,
                12,
                ParseErrorKind::Model(ModelError::InvalidCapParam {
                    object: "c".into(),
                    slot: 0,
                    param: CapParam::Badge,
                    target_type: Some(ObjectType::Frame),
                }),
            ),
        ),
        (
            "caps { e { 0: c } }",
            (
                3,
                8,
                ParseErrorKind::Model(ModelError::NoCapSlots {
                    object: "e".into(),
                    object_type: ObjectType::Endpoint,
                }),
            ),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(fail(&format!("{HEAD}{objects}{body}")), expected, "{body}");
    }
}

#[test]
fn cap_syntax_errors() {
    let objects = "objects { c = cnode (2 bits) e = ep }\n";
    let cases: [(&str, ParseErrorKind); 6] = [
        (
            "caps { c { 0: e (Q) } }",
            ParseErrorKind::UnknownParam("Q".into()),
        ),
        (
            "caps { c { 0: e (masked: R) } }",
            ParseErrorKind::Unsupported(Unsupported::MaskedRights),
        ),
        (
            "caps { c { 0: x = e } }",
            ParseErrorKind::Unsupported(Unsupported::CapNames),
        ),
        (
            "caps { c { 0: <x> } }",
            ParseErrorKind::Unsupported(Unsupported::CapCopies),
        ),
        (
            "caps { c { bogus: e } }",
            ParseErrorKind::UnknownSlotName("bogus".into()),
        ),
        (
            "caps { c { 0: e (R, badge 3) } }",
            ParseErrorKind::Unexpected {
                expected: "`:`",
                found: Found::Number(3),
            },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            fail(&format!("{HEAD}{objects}{body}")).2,
            expected,
            "{body}"
        );
    }
}

#[test]
fn irq_errors() {
    let text = "arch x86_64 objects { i = irq e = ep } irq maps { 3: i\n 3: i }";
    assert_eq!(
        fail(text),
        (2, 5, ParseErrorKind::Model(ModelError::DuplicateIrq(3)))
    );
    let text = "arch x86_64 objects { i = irq e = ep } irq maps { 3: e }";
    assert_eq!(
        fail(text).2,
        ParseErrorKind::Model(ModelError::NotAnIrq {
            irq: 3,
            object: "e".into()
        })
    );
}

#[test]
fn errors_display_their_place_and_cause() {
    let e = parse("arch x86_64\nobjects {\n    c = cnode (3 bits)\n    c = ep\n}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4, column 5: object `c` is declared twice"
    );
    let e = parse("arch x86_64\nobjects {").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2, column 10: expected an object name or `}`, found the end of the input"
    );
}
