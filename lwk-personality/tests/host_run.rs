//! End-to-end on the host: load a real static binary with the personality's
//! loader (plan, `syscall` → `ud2` rewrite, initial stack), jump to it, and
//! emulate each system call from a SIGILL handler by performing it for real —
//! the host-side twin of the seL4 trap path (#UD at a rewritten site →
//! emulate → RAX, RIP + 2). Its output and exit status must equal a native
//! run of the same binary, which proves the stack and auxv satisfy real
//! glibc and musl start-up code and that no `syscall` escaped the rewriter
//! along the path taken.
//!
//! The test binary re-executes itself (`LWK_HOST_RUN=<path>`) so that the
//! program runs in a fresh single-threaded process that it may take over.

mod common;

use lwk_personality::loader::elf::{self, LoadConfig, LoadPlan, PAGE_SIZE};
use lwk_personality::loader::rewrite::{self, RewriteReport, UD2};
use lwk_personality::loader::stack::{self, AuxInfo, StackContents};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Away from where Linux puts the (PIE) test binary itself.
const PIE_BASE: u64 = 0x2000_0000_0000;
const STACK_TOP: u64 = 0x3000_0000_0000;
const STACK_SIZE: u64 = 8 << 20;
const ENV: [&str; 2] = ["PATH=/usr/bin:/bin", "LANG=C"];

static SITES: OnceLock<RewriteReport> = OnceLock::new();
static TRAPS: AtomicU64 = AtomicU64::new(0);

fn main() {
    if let Ok(path) = std::env::var("LWK_HOST_RUN") {
        let args: Vec<String> = std::env::args().skip(1).collect();
        run_in_this_process(Path::new(&path), &args);
    }
    let mut cases: Vec<(String, std::path::PathBuf, Vec<String>)> = Vec::new();
    for (label, path) in common::real_static_binaries() {
        let args = if label.contains("busybox") {
            vec!["echo".into(), "hi".into(), "there".into()]
        } else {
            vec!["one".into(), "two".into()]
        };
        cases.push((label.into(), path, args));
    }
    if let Some(bb) = common::existing("/bin/busybox") {
        cases.push((
            "busybox sha256sum".into(),
            bb,
            vec!["sha256sum".into(), "/etc/os-release".into()],
        ));
    }
    let (mut passed, mut failed) = (0, 0);
    for (label, path, args) in cases {
        let native = Command::new(&path)
            .args(&args)
            .env_clear()
            .envs(env_pairs())
            .output()
            .unwrap();
        let ours = Command::new(std::env::current_exe().unwrap())
            .args(&args)
            .env_clear()
            .env("LWK_HOST_RUN", &path)
            .output()
            .unwrap();
        let traps = String::from_utf8_lossy(&ours.stderr);
        let ok = native.stdout == ours.stdout
            && native.status.code() == ours.status.code()
            && traps.contains("trapped")
            && !traps.contains("trapped 0000");
        println!(
            "{} {label}: status {:?}/{:?}, stdout {:?} {}",
            if ok { "ok  " } else { "FAIL" },
            native.status.code(),
            ours.status,
            String::from_utf8_lossy(&ours.stdout),
            traps.trim()
        );
        if ok {
            passed += 1;
        } else {
            println!(
                "     native stdout {:?}",
                String::from_utf8_lossy(&native.stdout)
            );
            failed += 1;
        }
    }
    // The harness itself: a program whose syscalls were NOT rewritten must be
    // killed by the seccomp filter, or the runs above prove nothing.
    if let Some((_, path)) = common::real_static_binaries().into_iter().next() {
        let out = Command::new(std::env::current_exe().unwrap())
            .env_clear()
            .env("LWK_HOST_RUN", &path)
            .env("LWK_HOST_RUN_UNREWRITTEN", "1")
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        let caught = out.status.signal() == Some(libc::SIGSYS);
        println!(
            "{} unrewritten syscall is caught: {:?}",
            if caught { "ok  " } else { "FAIL" },
            out.status
        );
        if caught {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

fn env_pairs() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENV.iter().map(|e| e.split_once('=').unwrap())
}

/// Child: load `path` here and jump to it. Never returns.
fn run_in_this_process(path: &Path, args: &[String]) -> ! {
    let mut file = std::fs::read(path).unwrap();
    let config = LoadConfig {
        pie_base: PIE_BASE,
        ..LoadConfig::default()
    };
    let plan = elf::parse_with(&file, &config).unwrap();
    let report = if std::env::var_os("LWK_HOST_RUN_UNREWRITTEN").is_some() {
        RewriteReport::default()
    } else {
        rewrite::rewrite_image(&mut file, &plan).unwrap()
    };
    map_image(&plan, &file);
    SITES.set(report).unwrap();

    let exe = path.to_str().unwrap().as_bytes();
    let mut argv: Vec<&[u8]> = vec![exe];
    argv.extend(args.iter().map(|a| a.as_bytes()));
    let envp: Vec<&[u8]> = ENV.iter().map(|e| e.as_bytes()).collect();
    // SAFETY: getuid & co. have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid().into(), libc::getgid().into()) };
    let aux = AuxInfo {
        uid,
        euid: uid,
        gid,
        egid: gid,
        // CPUID.1:EDX, what Linux reports as AT_HWCAP on x86.
        hwcap: std::arch::x86_64::__cpuid(1).edx.into(),
        ..AuxInfo::for_plan(&plan)
    };
    let contents = StackContents {
        argv: &argv,
        envp: &envp,
        execfn: exe,
        random: *b"0123456789abcdef",
        aux,
    };
    let stack = map_anon(
        STACK_TOP - STACK_SIZE,
        STACK_SIZE,
        libc::PROT_READ | libc::PROT_WRITE,
    );
    let initial = stack::build(stack, STACK_TOP, &contents).unwrap();
    install_sigill_handler();
    forbid_syscalls_from(plan.image_range());
    // SAFETY: the image and stack are mapped as the plan says; the program
    // never returns here (it ends with exit_group).
    unsafe {
        std::arch::asm!(
            "mov rsp, {sp}",
            "xor edx, edx", // no rtld_fini for atexit
            "xor ebp, ebp",
            "jmp {entry}",
            sp = in(reg) initial.sp,
            entry = in(reg) plan.entry,
            options(noreturn)
        )
    }
}

/// Maps `len` bytes at `addr` exactly, refusing to replace anything.
fn map_anon(addr: u64, len: u64, prot: i32) -> &'static mut [u8] {
    // SAFETY: MAP_FIXED_NOREPLACE never clobbers an existing mapping; the
    // result is checked before use and the memory is never unmapped.
    unsafe {
        let p = libc::mmap(
            addr as *mut _,
            len as usize,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        );
        assert_eq!(p as u64, addr, "mmap at {addr:#x} failed");
        std::slice::from_raw_parts_mut(p.cast(), len as usize)
    }
}

/// Places the image as Linux would: each segment's file bytes from the start
/// of its first page (so headers before `vaddr` are visible), zero after
/// `filesz`, then page permissions (the union where segments share a page).
fn map_image(plan: &LoadPlan, file: &[u8]) {
    let range = plan.image_range();
    let image = map_anon(
        range.start,
        range.end - range.start,
        libc::PROT_READ | libc::PROT_WRITE,
    );
    for s in &plan.segments {
        let page = s.page_range().start;
        let from = (s.offset - (s.vaddr - page)) as usize;
        let bytes = &file[from..(s.offset + s.filesz) as usize];
        let at = (page - range.start) as usize;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    }
    let mut page = range.start;
    while page < range.end {
        let mut prot = 0;
        for s in plan
            .segments
            .iter()
            .filter(|s| s.page_range().contains(&page))
        {
            prot |= if s.perms.read { libc::PROT_READ } else { 0 }
                | if s.perms.write { libc::PROT_WRITE } else { 0 }
                | if s.perms.exec { libc::PROT_EXEC } else { 0 };
        }
        // SAFETY: the page belongs to the image mapped above.
        assert_eq!(
            unsafe { libc::mprotect(page as *mut _, PAGE_SIZE as usize, prot) },
            0
        );
        page += PAGE_SIZE;
    }
}

/// A seccomp filter that kills the process if a system call is made from
/// inside the program's image: any `syscall` the rewriter missed, on the path
/// the run takes, fails the test instead of passing unnoticed.
fn forbid_syscalls_from(image: std::ops::Range<u64>) {
    let hi = (image.start >> 32) as u32;
    assert_eq!(
        hi,
        ((image.end - 1) >> 32) as u32,
        "image crosses a 4 GiB line"
    );
    let (lo_start, lo_end) = (image.start as u32, (image.end - 1) as u32);
    // seccomp_data: nr (0), arch (4), instruction_pointer (8: low, 12: high).
    let insn = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let (jeq, jge) = (
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
    );
    let ret = libc::BPF_RET | libc::BPF_K;
    let filter = [
        insn(ld, 0, 0, 12),
        insn(jeq, 0, 4, hi), // other 4 GiB: allow
        insn(ld, 0, 0, 8),
        insn(jge, 0, 2, lo_start),   // below the image: allow
        insn(jge, 1, 0, lo_end + 1), // above the image: allow
        insn(ret, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        insn(ret, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: a valid filter program that outlives the call (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0
        );
    }
}

fn install_sigill_handler() {
    // SAFETY: a plain sigaction with a valid handler; SA_NODEFER so that the
    // signal mask seen inside the handler is the program's own.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigill as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
        assert_eq!(libc::sigaction(libc::SIGILL, &sa, std::ptr::null_mut()), 0);
    }
}

/// The stand-in for the trap handler. Runs on the program's stack with the
/// program's FS base, so it touches no thread-locals and calls no libc.
extern "C" fn on_sigill(_sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
    let uc = unsafe { &mut *ctx.cast::<libc::ucontext_t>() };
    let g = &mut uc.uc_mcontext.gregs;
    let rip = g[libc::REG_RIP as usize] as u64;
    let is_site = SITES.get().is_some_and(|r| r.is_rewritten(rip));
    // SAFETY: RIP points at the faulting, mapped instruction.
    let is_ud2 = unsafe { *(rip as *const [u8; 2]) } == UD2;
    if !is_site || !is_ud2 {
        // A genuine SIGILL: die with it.
        raw_syscall(libc::SYS_exit_group as u64, [132, 0, 0, 0, 0, 0]);
    }
    let n = TRAPS.fetch_add(1, Ordering::Relaxed) + 1;
    let nr = g[libc::REG_RAX as usize] as u64;
    let args = [
        libc::REG_RDI,
        libc::REG_RSI,
        libc::REG_RDX,
        libc::REG_R10,
        libc::REG_R8,
        libc::REG_R9,
    ]
    .map(|r| g[r as usize] as u64);
    if nr == libc::SYS_exit_group as u64 || nr == libc::SYS_exit as u64 {
        let mut msg = *b"trapped 0000 syscalls\n";
        for (i, d) in (0..4).rev().zip([1000, 100, 10, 1]) {
            msg[8 + 3 - i] = b'0' + ((n / d) % 10) as u8;
        }
        raw_syscall(
            libc::SYS_write as u64,
            [2, msg.as_ptr() as u64, msg.len() as u64, 0, 0, 0],
        );
    }
    let ret = raw_syscall(nr, args);
    g[libc::REG_RAX as usize] = ret as i64;
    g[libc::REG_RIP as usize] = (rip + 2) as i64;
    if nr == libc::SYS_rt_sigprocmask as u64 {
        // sigreturn restores uc_sigmask: carry the program's new mask over.
        let mut cur = [0u64; 1];
        raw_syscall(
            nr,
            [libc::SIG_BLOCK as u64, 0, cur.as_mut_ptr() as u64, 8, 0, 0],
        );
        // SAFETY: sigset_t is at least 8 bytes; the first word holds signals 1-64.
        unsafe { *(&mut uc.uc_sigmask as *mut libc::sigset_t).cast::<u64>() = cur[0] };
    }
}

fn raw_syscall(nr: u64, a: [u64; 6]) -> u64 {
    let ret;
    // SAFETY: performs the program's own system call on its behalf, exactly
    // as its rewritten `syscall` instruction would have.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    ret
}
