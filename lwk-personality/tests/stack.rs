//! The initial stack, parsed back as libc start-up code would read it.

mod common;

use lwk_personality::loader::elf;
use lwk_personality::loader::stack::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const TOP: u64 = 0x7fff_ffff_e000;
const FILL: u8 = 0xCC;

/// What a program sees: argc, argv, envp, auxv.
#[derive(Debug)]
struct Seen {
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    auxv: BTreeMap<u64, u64>,
    aux_order: Vec<u64>,
}

fn read_u64(buf: &[u8], top: u64, addr: u64) -> u64 {
    let i = (addr - (top - buf.len() as u64)) as usize;
    u64::from_le_bytes(buf[i..i + 8].try_into().unwrap())
}

fn read_cstr(buf: &[u8], top: u64, addr: u64) -> Vec<u8> {
    let i = (addr - (top - buf.len() as u64)) as usize;
    let n = buf[i..]
        .iter()
        .position(|&b| b == 0)
        .expect("NUL-terminated");
    buf[i..i + n].to_vec()
}

fn read_back(buf: &[u8], top: u64, sp: u64) -> Seen {
    let argc = read_u64(buf, top, sp);
    let mut at = sp + 8;
    let strings = |at: &mut u64, count: Option<u64>| {
        let mut out = Vec::new();
        loop {
            let p = read_u64(buf, top, *at);
            *at += 8;
            if p == 0 {
                break;
            }
            out.push(read_cstr(buf, top, p));
        }
        if let Some(n) = count {
            assert_eq!(out.len() as u64, n);
        }
        out
    };
    let argv = strings(&mut at, Some(argc));
    let envp = strings(&mut at, None);
    let (mut auxv, mut aux_order) = (BTreeMap::new(), Vec::new());
    loop {
        let (k, v) = (read_u64(buf, top, at), read_u64(buf, top, at + 8));
        at += 16;
        aux_order.push(k);
        if k == AT_NULL {
            break;
        }
        assert!(auxv.insert(k, v).is_none(), "duplicate auxv {k}");
    }
    Seen {
        argv,
        envp,
        auxv,
        aux_order,
    }
}

fn sample_aux() -> AuxInfo {
    AuxInfo {
        phdr: 0x40_0040,
        phent: 56,
        phnum: 10,
        entry: 0x40_1000,
        page_size: 4096,
        uid: 1000,
        euid: 1001,
        gid: 100,
        egid: 101,
        secure: false,
        hwcap: 0x178b_fbff,
        hwcap2: 2,
    }
}

#[test]
fn layout_reads_back() {
    let mut buf = vec![FILL; 4096];
    let argv: [&[u8]; 3] = [b"/bin/prog", b"-v", b""];
    let envp: [&[u8]; 2] = [b"HOME=/root", b"PATH=/bin"];
    let random: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
    let c = StackContents {
        argv: &argv,
        envp: &envp,
        execfn: b"/bin/prog",
        random,
        aux: sample_aux(),
    };
    let st = build(&mut buf, TOP, &c).unwrap();

    assert_eq!(st.sp % 16, 0);
    assert_eq!(st.used as u64, TOP - st.sp);
    assert_eq!(st.argv, st.sp + 8);
    // Only the top `used` bytes are written.
    assert!(buf[..buf.len() - st.used].iter().all(|&b| b == FILL));
    // The end marker.
    assert_eq!(read_u64(&buf, TOP, TOP - 8), 0);

    let seen = read_back(&buf, TOP, st.sp);
    assert_eq!(
        seen.argv,
        argv.iter().map(|s| s.to_vec()).collect::<Vec<_>>()
    );
    assert_eq!(
        seen.envp,
        envp.iter().map(|s| s.to_vec()).collect::<Vec<_>>()
    );
    let a = &seen.auxv;
    assert_eq!(a[&AT_PHDR], 0x40_0040);
    assert_eq!(a[&AT_PHENT], 56);
    assert_eq!(a[&AT_PHNUM], 10);
    assert_eq!(a[&AT_PAGESZ], 4096);
    assert_eq!(a[&AT_BASE], 0);
    assert_eq!(a[&AT_FLAGS], 0);
    assert_eq!(a[&AT_ENTRY], 0x40_1000);
    assert_eq!(
        (a[&AT_UID], a[&AT_EUID], a[&AT_GID], a[&AT_EGID]),
        (1000, 1001, 100, 101)
    );
    assert_eq!(a[&AT_SECURE], 0);
    assert_eq!(a[&AT_HWCAP], 0x178b_fbff);
    assert_eq!(a[&AT_HWCAP2], 2);
    assert_eq!(a[&AT_CLKTCK], 100);
    assert_eq!(a[&AT_RANDOM], st.random);
    assert_eq!(a[&AT_EXECFN], st.execfn);
    assert_eq!(read_cstr(&buf, TOP, a[&AT_PLATFORM]), b"x86_64");
    assert_eq!(read_cstr(&buf, TOP, a[&AT_EXECFN]), b"/bin/prog");
    let r = (a[&AT_RANDOM] - (TOP - buf.len() as u64)) as usize;
    assert_eq!(buf[r..r + 16], random);
    assert_eq!(seen.aux_order.last(), Some(&AT_NULL));
    // Every value the brief asks for is present.
    for k in [
        AT_PHDR,
        AT_PHENT,
        AT_PHNUM,
        AT_PAGESZ,
        AT_BASE,
        AT_FLAGS,
        AT_ENTRY,
        AT_UID,
        AT_EUID,
        AT_GID,
        AT_EGID,
        AT_SECURE,
        AT_RANDOM,
        AT_HWCAP,
        AT_CLKTCK,
        AT_PLATFORM,
        AT_EXECFN,
    ] {
        assert!(a.contains_key(&k), "auxv {k} missing");
    }
}

#[test]
fn empty_argv_and_envp() {
    let mut buf = vec![0; 1024];
    let c = StackContents {
        argv: &[],
        envp: &[],
        execfn: b"x",
        random: [0; 16],
        aux: AuxInfo::default(),
    };
    let st = build(&mut buf, TOP, &c).unwrap();
    let seen = read_back(&buf, TOP, st.sp);
    assert!(seen.argv.is_empty() && seen.envp.is_empty());
    assert_eq!(st.sp % 16, 0);
}

#[test]
fn aux_from_plan() {
    let f = common::mini_elf();
    let plan = elf::parse(&f).unwrap();
    let aux = AuxInfo::for_plan(&plan);
    assert_eq!(
        (aux.phdr, aux.phent, aux.phnum, aux.entry),
        (plan.phdr.unwrap(), 56, 5, plan.entry)
    );
    assert_eq!(aux.page_size, 4096);
}

#[test]
fn errors() {
    let c = StackContents {
        argv: &[b"a"],
        envp: &[],
        execfn: b"a",
        random: [0; 16],
        aux: AuxInfo::default(),
    };
    let mut buf = vec![0; 1024];
    assert_eq!(
        build(&mut buf, TOP + 8, &c),
        Err(StackError::TopMisaligned(TOP + 8))
    );
    assert_eq!(build(&mut buf, 512, &c), Err(StackError::AddressUnderflow));
    let mut small = vec![0; 64];
    assert!(matches!(
        build(&mut small, TOP, &c),
        Err(StackError::TooSmall { available: 64, .. })
    ));
    let bad: [&[u8]; 2] = [b"ok", b"b\0ad"];
    let c2 = StackContents { argv: &bad, ..c };
    assert_eq!(
        build(&mut buf, TOP, &c2),
        Err(StackError::NulInString {
            kind: StringKind::Arg,
            index: 1
        })
    );
    let c3 = StackContents { envp: &bad, ..c };
    assert_eq!(
        build(&mut buf, TOP, &c3),
        Err(StackError::NulInString {
            kind: StringKind::Env,
            index: 1
        })
    );
    let c4 = StackContents { execfn: b"\0", ..c };
    assert!(matches!(
        build(&mut buf, TOP, &c4),
        Err(StackError::NulInString {
            kind: StringKind::ExecFn,
            ..
        })
    ));
}

fn no_nul_string() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_strings_round_trip_aligned(
        argv in prop::collection::vec(no_nul_string(), 0..12),
        envp in prop::collection::vec(no_nul_string(), 0..12),
        execfn in no_nul_string(),
        slack in 0usize..64,
    ) {
        let argv_refs: Vec<&[u8]> = argv.iter().map(|s| s.as_slice()).collect();
        let envp_refs: Vec<&[u8]> = envp.iter().map(|s| s.as_slice()).collect();
        let c = StackContents { argv: &argv_refs, envp: &envp_refs, execfn: &execfn, random: [7; 16], aux: sample_aux() };
        // Find the exact need, then check a buffer of that size plus slack works.
        let mut probe = vec![0; 0];
        let needed = match build(&mut probe, TOP, &c) {
            Err(StackError::TooSmall { needed, .. }) => needed,
            other => panic!("{other:?}"),
        };
        let mut buf = vec![FILL; needed + slack];
        let st = build(&mut buf, TOP, &c).unwrap();
        prop_assert_eq!(st.sp % 16, 0);
        prop_assert!(st.used <= needed);
        let seen = read_back(&buf, TOP, st.sp);
        prop_assert_eq!(&seen.argv, &argv);
        prop_assert_eq!(&seen.envp, &envp);
        prop_assert_eq!(read_cstr(&buf, TOP, seen.auxv[&AT_EXECFN]), execfn);
        prop_assert!(buf[..buf.len() - st.used].iter().all(|&b| b == FILL));
    }
}
