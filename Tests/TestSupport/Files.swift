import Foundation

// Scratch directories and the file-system witnesses of the hostile-file tests (EngineTests'
// HostileStateTests, VirtPlaceCLITests' HostileFilesTests).

/// A new empty directory under the temporary directory, named `LABEL-UUID`; the caller removes it.
public func scratchDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + label + "-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The file type `lstat` sees (`S_IFCHR`, `S_IFLNK`, …), nil when there is nothing.
public func fileType(_ path: String) -> mode_t? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return info.st_mode & S_IFMT
}

/// The permission bits `lstat` sees, nil when there is nothing.
public func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return info.st_mode & 0o7777
}

/// A character device of the memory major (1: `minor` 3 is null, 7 is full) made with mknod in
/// `directory`, so that a test that must not replace a device never aims at the machine's own
/// /dev (a regression would replace it for every process). Without root (no mknod) the
/// machine's `/dev/NAME`, which such a run cannot replace, is returned instead.
public func deviceNode(_ name: String, minor: UInt32, in directory: String) -> String {
    let path = directory + "/" + name
    // 1:minor, as glibc's `makedev` (a macro Swift does not see) makes it.
    return mknod(path, S_IFCHR | 0o666, dev_t((1 << 8) | minor)) == 0 ? path : "/dev/" + name
}

/// The bytes of a victim file some link points at: they must never change.
public let victimBytes = Data("root:x:0:0:root:/root:/bin/bash\n".utf8)
