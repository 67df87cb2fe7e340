//! Finding the ivshmem device without a driver: PCI devices are listed in
//! sysfs, and the BAR holding the shared memory (BAR 2 of `ivshmem-plain`)
//! can be mapped from userspace through its `resource2` file.

use std::fs;
use std::path::{Path, PathBuf};

/// Red Hat's virtio vendor id, which QEMU's ivshmem uses.
pub const IVSHMEM_VENDOR: u16 = 0x1af4;
/// `ivshmem-plain` and `ivshmem-doorbell` share this device id.
pub const IVSHMEM_DEVICE: u16 = 0x1110;

/// Reads a sysfs id file (`0x1af4\n`).
fn read_id(path: &Path) -> Option<u16> {
    let text = fs::read_to_string(path).ok()?;
    u16::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The sysfs directories of every ivshmem device under `sysfs`
/// (normally `/sys`), in bus order.
pub fn find_ivshmem(sysfs: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(sysfs.join("bus/pci/devices"))? {
        let dir = entry?.path();
        if read_id(&dir.join("vendor")) == Some(IVSHMEM_VENDOR)
            && read_id(&dir.join("device")) == Some(IVSHMEM_DEVICE)
        {
            found.push(dir);
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_ivshmem_devices() {
        let root = std::env::temp_dir().join(format!("daemon-sysfs-{}", std::process::id()));
        let devs = root.join("bus/pci/devices");
        for (name, vendor, device) in [
            ("0000:00:01.0", "0x8086", "0x7000"),
            ("0000:00:05.0", "0x1af4", "0x1110"),
            ("0000:00:03.0", "0x1af4", "0x1009"),
            ("0000:00:04.0", "0x1af4", "0x1110"),
        ] {
            fs::create_dir_all(devs.join(name)).unwrap();
            fs::write(devs.join(name).join("vendor"), format!("{vendor}\n")).unwrap();
            fs::write(devs.join(name).join("device"), format!("{device}\n")).unwrap();
        }
        let found = find_ivshmem(&root).unwrap();
        assert_eq!(
            found,
            vec![devs.join("0000:00:04.0"), devs.join("0000:00:05.0")]
        );
        assert!(find_ivshmem(&root.join("nope")).is_err());
        fs::remove_dir_all(root).unwrap();
    }
}
