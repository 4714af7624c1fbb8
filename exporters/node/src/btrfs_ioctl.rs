//! The three btrfs ioctls node_exporter queries per mounted filesystem (through
//! `github.com/dennwc/btrfs`): filesystem info, device info and device error counters.
//! They need the mount point opened (read-only) and, for the counters, `CAP_SYS_ADMIN`;
//! without them the `btrfs` collector falls back to the device sizes in sysfs.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// `BTRFS_SUPER_MAGIC`.
const BTRFS_MAGIC: i64 = 0x9123_683E;
/// The inode number of a subvolume's root directory.
const FIRST_FREE_OBJECTID: u64 = 256;

const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | (0x94 << 8) | nr
}
const IOC_FS_INFO: u64 = ioc(2, 31, 1024);
const IOC_DEV_INFO: u64 = ioc(3, 30, 4096);
const IOC_GET_DEV_STATS: u64 = ioc(3, 52, 1032);

/// `BTRFS_IOC_FS_INFO`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Highest device id.
    pub max_id: u64,
    /// Number of devices.
    pub num_devices: u64,
    /// Filesystem id.
    pub fsid: [u8; 16],
}

impl FsInfo {
    /// The id as lower-case hex without dashes (`FSID.String()`), which is the sysfs
    /// directory name with its dashes removed.
    pub fn fsid_hex(&self) -> String {
        self.fsid.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One device: `BTRFS_IOC_DEV_INFO` and `BTRFS_IOC_GET_DEV_STATS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevStats {
    /// Device path (`/dev/sda1`).
    pub path: String,
    /// Device UUID, dashed, or `<zero>`.
    pub uuid: String,
    /// Bytes used on the device.
    pub bytes_used: u64,
    /// Device size.
    pub total_bytes: u64,
    /// write, read, flush, corruption and generation errors.
    pub errors: [u64; 5],
}

/// The dashed form of a UUID (`UUID.String()`: `<zero>` when all zero).
pub fn uuid_string(id: &[u8; 16]) -> String {
    if id.iter().all(|b| *b == 0) {
        return "<zero>".into();
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn u64_at(words: &[u64], byte: usize) -> u64 {
    words[byte / 8]
}

fn bytes_of(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

/// Decodes a `btrfs_ioctl_fs_info_args`.
pub fn decode_fs_info(args: &[u64; 128]) -> FsInfo {
    let bytes = bytes_of(&args[2..4]);
    let mut fsid = [0; 16];
    fsid.copy_from_slice(&bytes);
    FsInfo {
        max_id: u64_at(args, 0),
        num_devices: u64_at(args, 8),
        fsid,
    }
}

/// Decodes a `btrfs_ioctl_dev_info_args` (uuid, bytes used, total bytes, path).
pub fn decode_dev_info(args: &[u64; 512]) -> (String, u64, u64, String) {
    let uuid_bytes = bytes_of(&args[1..3]);
    let mut uuid = [0; 16];
    uuid.copy_from_slice(&uuid_bytes);
    let path_bytes = bytes_of(&args[384..]);
    let end = path_bytes
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(path_bytes.len());
    (
        uuid_string(&uuid),
        u64_at(args, 24),
        u64_at(args, 32),
        String::from_utf8_lossy(&path_bytes[..end]).into_owned(),
    )
}

fn ioctl<T>(file: &File, request: u64, arg: &mut T) -> io::Result<()> {
    // SAFETY: `arg` is a buffer of exactly the size encoded in `request`, which the kernel
    // reads and writes only within.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), request as _, arg as *mut T) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens `path` read-only if it is the root of a btrfs subvolume (`btrfs.Open`); `Ok(None)`
/// when it is something else.
pub fn open_subvolume(path: &Path) -> io::Result<Option<File>> {
    let meta = std::fs::metadata(path)?;
    if meta.ino() != FIRST_FREE_OBJECTID || !meta.is_dir() {
        return Ok(None);
    }
    let cpath = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `statfs` is plain data, for which all zero bytes is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `cpath` is NUL-terminated and `st` a valid out-parameter.
    if unsafe { libc::statfs(cpath.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    if st.f_type as i64 != BTRFS_MAGIC {
        return Ok(None);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
        .or_else(|_| File::open(path))?;
    Ok(Some(file))
}

/// `BTRFS_IOC_FS_INFO`.
pub fn fs_info(file: &File) -> io::Result<FsInfo> {
    let mut args = [0u64; 128];
    ioctl(file, IOC_FS_INFO, &mut args)?;
    Ok(decode_fs_info(&args))
}

/// Every device of the filesystem, as node_exporter walks them: ids 0 to `max_id`, absent
/// ids (ENODEV) skipped, stopping once `num_devices` are found.
pub fn devices(file: &File, info: &FsInfo) -> io::Result<Vec<DevStats>> {
    let mut out = Vec::new();
    for id in 0..=info.max_id {
        let mut args = [0u64; 512];
        args[0] = id;
        match ioctl(file, IOC_DEV_INFO, &mut args) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => continue,
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let (uuid, bytes_used, total_bytes, path) = decode_dev_info(&args);
        let mut stats = [0u64; 129];
        stats[0] = id;
        stats[1] = 5;
        ioctl(file, IOC_GET_DEV_STATS, &mut stats)?;
        let mut errors = [0; 5];
        errors.copy_from_slice(&stats[3..8]);
        out.push(DevStats {
            path,
            uuid,
            bytes_used,
            total_bytes,
            errors,
        });
        if out.len() as u64 == info.num_devices {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_the_kernel_headers() {
        assert_eq!(IOC_FS_INFO, 0x8400_941F);
        assert_eq!(IOC_DEV_INFO, 0xD000_941E);
        assert_eq!(IOC_GET_DEV_STATS, 0xC408_9434);
    }

    #[test]
    fn decodes_arguments() {
        let mut fs = [0u64; 128];
        fs[0] = 3;
        fs[1] = 2;
        fs[2] = u64::from_ne_bytes([0x0a, 0xbb, 0x23, 0xa9, 0x57, 0x9b, 0x43, 0xe6]);
        fs[3] = u64::from_ne_bytes([0xad, 0x30, 0x22, 0x7e, 0xf4, 0x7f, 0xcb, 0x9d]);
        let info = decode_fs_info(&fs);
        assert_eq!((info.max_id, info.num_devices), (3, 2));
        assert_eq!(info.fsid_hex(), "0abb23a9579b43e6ad30227ef47fcb9d");
        assert_eq!(
            uuid_string(&info.fsid),
            "0abb23a9-579b-43e6-ad30-227ef47fcb9d"
        );
        assert_eq!(uuid_string(&[0; 16]), "<zero>");

        let mut dev = [0u64; 512];
        dev[3] = 1000;
        dev[4] = 4000;
        dev[384] = u64::from_ne_bytes(*b"/dev/sda");
        dev[385] = u64::from_ne_bytes([b'1', 0, 0, 0, 0, 0, 0, 0]);
        let (uuid, used, total, path) = decode_dev_info(&dev);
        assert_eq!(
            (uuid.as_str(), used, total, path.as_str()),
            ("<zero>", 1000, 4000, "/dev/sda1")
        );
    }

    #[test]
    fn a_directory_that_is_not_btrfs_is_not_opened() {
        assert!(open_subvolume(Path::new("/proc")).unwrap().is_none());
        assert!(open_subvolume(Path::new("/does/not/exist")).is_err());
    }
}
