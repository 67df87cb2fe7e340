//! PCI configuration space through legacy port I/O (0xCF8 address, 0xCFC
//! data), reached with the IOPort capability.

use alloc::vec::Vec;
use sel4::cap_type::IoPort;
use sel4::Cap;
use sel4_root_task::println;

const CONFIG_ADDRESS: u64 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// One function found on the bus.
#[derive(Debug, Clone, Copy)]
pub struct PciFunction {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
}

fn address(bus: u8, dev: u8, func: u8, reg: u8) -> u64 {
    0x8000_0000u64
        | (bus as u64) << 16
        | (dev as u64) << 11
        | (func as u64) << 8
        | (reg as u64 & 0xfc)
}

/// Reads a config dword; `None` if the port invocations fail.
pub fn read32(port: Cap<IoPort>, bus: u8, dev: u8, func: u8, reg: u8) -> Option<u32> {
    port.io_port_out32(CONFIG_ADDRESS, address(bus, dev, func, reg))
        .ok()?;
    port.io_port_in32(CONFIG_DATA).ok()
}

/// Writes a config dword.
pub fn write32(port: Cap<IoPort>, bus: u8, dev: u8, func: u8, reg: u8, v: u32) -> Option<()> {
    port.io_port_out32(CONFIG_ADDRESS, address(bus, dev, func, reg))
        .ok()?;
    port.io_port_out32(CONFIG_DATA as u64, v as u64).ok()
}

/// Every function on bus 0.
pub fn scan_bus0(port: Cap<IoPort>) -> Vec<PciFunction> {
    let mut found = Vec::new();
    for dev in 0..32u8 {
        for func in 0..8u8 {
            let Some(id) = read32(port, 0, dev, func, 0) else {
                return found;
            };
            let vendor = id as u16;
            if vendor == 0xffff {
                if func == 0 {
                    break;
                }
                continue;
            }
            let class = read32(port, 0, dev, func, 8).unwrap_or(0);
            found.push(PciFunction {
                bus: 0,
                dev,
                func,
                vendor,
                device: (id >> 16) as u16,
                class: (class >> 24) as u8,
                subclass: (class >> 16) as u8,
            });
            // Single-function devices answer on every function number.
            let header = read32(port, 0, dev, 0, 0xc).unwrap_or(0);
            if func == 0 && header & 0x0080_0000 == 0 {
                break;
            }
        }
    }
    found
}

fn name(f: &PciFunction) -> &'static str {
    match (f.vendor, f.device) {
        (0x1af4, 0x1110) => "ivshmem (shared memory)",
        (0x8086, 0x1237) => "i440FX host bridge",
        (0x8086, 0x7000) => "PIIX3 ISA bridge",
        (0x8086, 0x7010) => "PIIX3 IDE",
        (0x8086, 0x7113) => "PIIX4 ACPI",
        (0x8086, 0x100e) => "e1000 network",
        (0x1234, 0x1111) => "VGA",
        (0x1af4, _) => "virtio",
        _ => match f.class {
            0x01 => "storage",
            0x02 => "network",
            0x03 => "display",
            0x06 => "bridge",
            _ => "other",
        },
    }
}

pub fn print(devs: &[PciFunction]) {
    println!("pci: bus 0 has {} function(s)", devs.len());
    for d in devs {
        println!(
            "pci: 00:{:02x}.{} {:04x}:{:04x} class {:02x}.{:02x} {}",
            d.dev,
            d.func,
            d.vendor,
            d.device,
            d.class,
            d.subclass,
            name(d)
        );
    }
}
