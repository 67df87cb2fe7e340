//! Link the personality server as a freestanding static ELF at 0x400000 in
//! its own VSpace (the root task loads it).

fn main() {
    sel4_link::link_at(0x40_0000);
}
