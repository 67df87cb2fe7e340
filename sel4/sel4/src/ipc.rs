//! Invocation transport used by every generated method.

use crate::arch::{ipc_buffer, syscalls};
use crate::{Cap, Error, MessageInfo, Result, Word};

/// Performs an object invocation: `caps` go in the extra-caps area, `msg`
/// in the message registers (first four in CPU registers), the reply label
/// is the error code, and the reply's words are copied into `out`.
pub fn invoke(
    service: Word,
    label: Word,
    caps: &[Word],
    msg: &[Word],
    out: &mut [Word],
) -> Result<()> {
    debug_assert!(caps.len() <= crate::MSG_MAX_EXTRA_CAPS && msg.len() <= crate::MSG_MAX_LENGTH);
    for (i, c) in caps.iter().enumerate() {
        ipc_buffer::set_cap(i, *c);
    }
    let mut mrs = [0; 4];
    for (i, w) in msg.iter().enumerate() {
        if i < 4 {
            mrs[i] = *w;
        } else {
            ipc_buffer::set_mr(i, *w);
        }
    }
    let info = MessageInfo::new(label, 0, caps.len() as Word, msg.len() as Word);
    let reply = syscalls::call(
        Cap::<crate::cap_type::Unspecified>::from_bits(service),
        info,
        &mut mrs,
    );
    Error::check(reply.label())?;
    for (i, o) in out.iter_mut().enumerate() {
        *o = if i < 4 { mrs[i] } else { ipc_buffer::get_mr(i) };
    }
    Ok(())
}

/// Reads message register `i` of a message just received, where `regs`
/// holds the four that arrived in CPU registers.
pub fn received_mr(regs: &[Word; 4], i: usize) -> Word {
    if i < 4 {
        regs[i]
    } else {
        ipc_buffer::get_mr(i)
    }
}
