//! The table of implemented system calls as Markdown (`docs/syscalls.md`),
//! made from [`TABLE`] itself so the documentation cannot drift: a host
//! test compares the committed file with this output.

use super::table::{Route, Support, TABLE};
use alloc::format;
use alloc::string::String;

/// `docs/syscalls.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# System calls of the LWK personality\n\n\
         Generated from `lwk-personality/src/syscall/table.rs` (regenerate with\n\
         `LWK_BLESS=1 cargo test -p lwk-personality --test table`; the test fails\n\
         when this file and the table differ). Every other number is answered\n\
         `ENOSYS` and logged once per job with its name.\n\n\
         - **local**: answered by the personality on the application's core;\n\
         - **shipped**: forwarded to the Linux VM over the shared buffer (in\n  \
           standalone mode, without a Linux VM, `ENOSYS`; the console streams\n  \
           0-2 are local there).\n\n",
    );
    let (mut local, mut shipped, mut stubs) = (0, 0, 0);
    for c in TABLE {
        match (c.support, c.route) {
            (Support::Stub(..), _) => stubs += 1,
            (_, Route::Local) => local += 1,
            (_, Route::Shipped) => shipped += 1,
        }
    }
    out += &format!(
        "{} calls: {local} local, {shipped} shipped, {stubs} deliberately refused.\n\n",
        TABLE.len()
    );
    out += "| nr | call | route | support | notes |\n|---:|---|---|---|---|\n";
    for c in TABLE {
        let route = match c.route {
            Route::Local => "local",
            Route::Shipped => "shipped",
        };
        let (support, note) = match c.support {
            Support::Full => ("full", String::new()),
            Support::Partial(n) => ("partial", String::from(n)),
            Support::Stub(e, n) => ("refused", format!("`{}`: {n}", e.name())),
        };
        out += &format!(
            "| {} | `{}` | {route} | {support} | {} |\n",
            c.nr,
            c.name,
            note.replace('|', "\\|")
        );
    }
    out
}
