//! Random sequences of memory calls against a reference model kept at
//! Linux's 4 KiB granularity: after every call the mappings (rights,
//! backing) equal the model's, every invariant holds (VMAs disjoint, every
//! mapped byte backed, pages mapped with the union of rights), the pool
//! conserves its frames, and the bytes the application wrote are where the
//! model says — zero wherever a mapping is new.

mod common;

use common::backing::FakeBacking;
use lwk_personality::loader::elf;
use lwk_personality::mm::{
    Access, AddressSpace, Layout, MapRequest, MmError, Placement, Prot, Remap, VmaKind,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const K4: u64 = 4096;
const BASE: u64 = 0x1_0000_0000;
/// Fixed mappings and accesses fall in the 32 MiB below the mmap base,
/// where the kernel-placed ones go too, so they collide.
const WINDOW: u64 = BASE - (32 << 20);
const WINDOW_PAGES: u64 = (32 << 20) / K4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cell {
    prot: Prot,
    backed: bool,
}

/// An address: anywhere in the window, or a page of an existing mapping
/// (so that calls meet mappings often).
#[derive(Clone, Copy, Debug)]
enum At {
    Window(u64),
    Vma { index: usize, page: u64 },
}

impl At {
    fn resolve(self, s: &AddressSpace) -> u64 {
        match self {
            At::Window(a) => a,
            At::Vma { index, page } => match s.vmas().iter().nth(index % s.vmas().len().max(1)) {
                Some(v) => v.start + (page % ((v.end - v.start) / K4)) * K4,
                None => WINDOW,
            },
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Map {
        pages: u64,
        prot: u8,
        at: Option<At>,
        noreplace: bool,
    },
    Unmap {
        at: At,
        pages: u64,
    },
    Protect {
        at: At,
        pages: u64,
        prot: u8,
    },
    Remap {
        at: At,
        old: u64,
        new: u64,
        maymove: bool,
    },
    Brk {
        pages: u64,
    },
    Write {
        cell: usize,
        offset: u16,
        value: u8,
    },
    DontNeed {
        at: At,
        pages: u64,
    },
}

fn pages() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..16, 2 => 16u64..600, 1 => 600u64..1200]
}

fn addr() -> impl Strategy<Value = At> {
    prop_oneof![
        (0..WINDOW_PAGES).prop_map(|p| At::Window(WINDOW + p * K4)),
        (any::<usize>(), prop_oneof![Just(0u64), any::<u64>()])
            .prop_map(|(index, page)| At::Vma { index, page }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (pages(), 0u8..8, prop::option::weighted(0.4, addr()), any::<bool>())
            .prop_map(|(pages, prot, at, noreplace)| Op::Map { pages, prot, at, noreplace }),
        3 => (addr(), pages()).prop_map(|(at, pages)| Op::Unmap { at, pages }),
        3 => (addr(), pages(), 0u8..8).prop_map(|(at, pages, prot)| Op::Protect { at, pages, prot }),
        2 => (addr(), pages(), pages(), any::<bool>())
            .prop_map(|(at, old, new, maymove)| Op::Remap { at, old, new, maymove }),
        2 => (0u64..1500).prop_map(|pages| Op::Brk { pages }),
        5 => (any::<usize>(), 0u16..4096, 1u8..255)
            .prop_map(|(cell, offset, value)| Op::Write { cell, offset, value }),
        1 => (addr(), pages()).prop_map(|(at, pages)| Op::DontNeed { at, pages }),
    ]
}

/// The model: rights and backing per 4 KiB page, and the bytes written.
#[derive(Default)]
struct Model {
    cells: BTreeMap<u64, Cell>,
    data: BTreeMap<u64, u8>,
    written: BTreeSet<u64>,
}

impl Model {
    fn clear(&mut self, start: u64, end: u64) {
        let keys: Vec<u64> = self.cells.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            self.cells.remove(&k);
        }
        self.forget(start, end);
    }

    fn forget(&mut self, start: u64, end: u64) {
        let keys: Vec<u64> = self.data.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            self.data.remove(&k);
        }
    }

    fn fill(&mut self, start: u64, end: u64, cell: Cell) {
        for p in (start..end).step_by(K4 as usize) {
            self.cells.insert(p, cell);
        }
    }

    fn covers(&self, start: u64, end: u64) -> bool {
        (start..end)
            .step_by(K4 as usize)
            .all(|p| self.cells.contains_key(&p))
    }

    fn any(&self, start: u64, end: u64) -> bool {
        self.cells.range(start..end).next().is_some()
    }
}

fn prot(bits: u8) -> Prot {
    Prot::from_bits(bits.into()).unwrap()
}

fn apply(s: &mut AddressSpace, b: &mut FakeBacking, m: &mut Model, op: &Op) {
    match *op {
        Op::Map {
            pages,
            prot: p,
            at,
            noreplace,
        } => {
            let len = pages * K4;
            let at = at.map(|a| a.resolve(s));
            let placement = match at {
                None => Placement::Anywhere { hint: 0 },
                Some(a) if noreplace => Placement::FixedNoReplace(a),
                Some(a) => Placement::Fixed(a),
            };
            let req = MapRequest {
                len,
                prot: prot(p),
                kind: VmaKind::Anon,
                placement,
            };
            let cell = Cell {
                prot: prot(p),
                backed: p != 0,
            };
            match (s.mmap(b, req), at) {
                (Ok(a), _) => {
                    assert!(at.is_some() || !m.any(a, a + len), "placed over a mapping");
                    m.clear(a, a + len);
                    m.fill(a, a + len, cell);
                }
                (Err(MmError::Exists), Some(a)) => assert!(noreplace && m.any(a, a + len)),
                (Err(MmError::NoMemory), Some(a)) if !noreplace => m.clear(a, a + len),
                (Err(MmError::NoMemory), _) => {}
                (Err(e), _) => panic!("mmap: {e:?}"),
            }
        }
        Op::Unmap { at, pages } => {
            let at = at.resolve(s);
            s.munmap(b, at, pages * K4).unwrap();
            m.clear(at, at + pages * K4);
        }
        Op::Protect { at, pages, prot: p } => {
            let at = at.resolve(s);
            let end = at + pages * K4;
            match s.mprotect(b, at, pages * K4, prot(p)) {
                Ok(()) => {
                    for (_, c) in m.cells.range_mut(at..end) {
                        c.prot = prot(p);
                        c.backed |= p != 0;
                    }
                }
                Err(MmError::Unmapped) => assert!(!m.covers(at, end)),
                Err(MmError::NoMemory) => assert!(p != 0),
                Err(e) => panic!("mprotect: {e:?}"),
            }
        }
        Op::Remap {
            at,
            old,
            new,
            maymove,
        } => {
            let at = at.resolve(s);
            let how = if maymove {
                Remap::MayMove
            } else {
                Remap::InPlace
            };
            let (old_len, new_len) = (old * K4, new * K4);
            if let Ok(to) = s.mremap(b, at, old_len, new_len, how) {
                let cell = m.cells[&at];
                let kept = old_len.min(new_len);
                let moved: Vec<(u64, Cell)> = m
                    .cells
                    .range(at..at + kept)
                    .map(|(&k, &c)| (k, c))
                    .collect();
                let data: Vec<(u64, u8)> =
                    m.data.range(at..at + kept).map(|(&k, &v)| (k, v)).collect();
                m.clear(at, at + old_len);
                for (k, c) in moved {
                    m.cells.insert(k - at + to, c);
                }
                for (k, v) in data {
                    m.data.insert(k - at + to, v);
                }
                m.fill(to + kept, to + new_len, cell);
            }
        }
        Op::Brk { pages } => {
            let (old, start) = (s.brk(), s.brk_start());
            let new = start + pages * K4 - pages % 3;
            let got = s.set_brk(b, new).unwrap();
            if got == new {
                let (old_end, new_end) = (old.next_multiple_of(K4), new.next_multiple_of(K4));
                if new_end > old_end {
                    m.fill(
                        old_end,
                        new_end,
                        Cell {
                            prot: Prot::RW,
                            backed: true,
                        },
                    );
                } else {
                    m.clear(new_end, old_end);
                }
            } else {
                assert_eq!(got, old);
            }
        }
        Op::Write {
            cell,
            offset,
            value,
        } => {
            let writable: Vec<u64> = m
                .cells
                .iter()
                .filter(|(_, c)| c.backed && c.prot.contains(Prot::WRITE))
                .map(|(&k, _)| k)
                .collect();
            if !writable.is_empty() {
                let at = writable[cell % writable.len()] + u64::from(offset);
                b.store(at, value);
                m.data.insert(at, value);
                m.written.insert(at);
            }
        }
        Op::DontNeed { at, pages } => {
            let at = at.resolve(s);
            let end = at + pages * K4;
            let r = s.madvise(b, at, pages * K4, true);
            assert_eq!(r.is_ok(), m.covers(at, end));
            m.forget(at, end);
        }
    }
}

/// Mappings, pages, pool and bytes all agree with the model.
fn check(s: &AddressSpace, b: &FakeBacking, m: &Model) {
    b.check_matches(s);
    assert_eq!(b.faults, 0, "an access the model allowed faulted");
    let mut cells = BTreeMap::new();
    for v in s.vmas().iter() {
        for p in (v.start..v.end).step_by(K4 as usize) {
            cells.insert(
                p,
                Cell {
                    prot: v.prot,
                    backed: v.backed,
                },
            );
        }
    }
    assert!(cells == m.cells, "mappings differ from the model");
    for &a in &m.written {
        let Ok(mut runs) = s.phys_runs(a, 1, Access::Loader) else {
            assert!(
                !m.data.contains_key(&a),
                "written byte {a:#x} lost its backing"
            );
            continue;
        };
        let (paddr, _) = runs.next().unwrap();
        let want = m.data.get(&a).copied().unwrap_or(0);
        assert_eq!(b.phys(paddr), want, "byte at {a:#x}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_calls_keep_the_invariants(ops in prop::collection::vec(op(), 1..40)) {
        let mut b = FakeBacking::new(16, 20, 0);
        let layout = Layout { mmap_base: BASE, ..Layout::default() };
        let mut s = AddressSpace::new(layout);
        s.load_image(&mut b, &elf::parse(&common::mini_elf()).unwrap()).unwrap();
        let mut m = Model::default();
        for v in s.vmas().iter() {
            m.fill(v.start, v.end, Cell { prot: v.prot, backed: true });
        }
        for op in &ops {
            apply(&mut s, &mut b, &mut m, op);
            check(&s, &b, &m);
        }
        s.clear(&mut b);
        prop_assert_eq!(b.in_use(), 0);
        prop_assert!(b.conserved());
    }
}
