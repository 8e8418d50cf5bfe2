import Foundation

// Scratch directories and the file-system witnesses of the hostile-file tests (EngineTests'
// HostileStateTests, VirtPlaceCLITests' HostileFilesTests).

/// Where the tests' scratch and state directories go: one directory per test process under the
/// temporary directory, `virtplace-tests-PID/`, removed when the process exits, so that a test
/// that does not remove its own leaves nothing behind either (a unit test run left some 200
/// state directories in /tmp).
public let testScratchRoot: String = {
    let path = NSTemporaryDirectory() + "virtplace-tests-\(getpid())/"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: testScratchRoot) }
    return path
}()

/// A new empty directory under `testScratchRoot`, named `LABEL-UUID`; the caller removes it.
public func scratchDirectory(_ label: String) throws -> String {
    let path = testScratchRoot + label + "-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes `contents` to `path` in place (created, or truncated): what
/// FileManager's `createFile` does, without its leftover. On Linux Foundation's atomic writes
/// (`createFile`, `write(toFile:atomically:)` with true, the `.atomic` option) go through a new
/// `/tmp/TemporaryDirectory.*` that is never removed: one per call, thousands per test run.
/// No test reads a file while it is being written, so nothing needs the atomicity;
/// `FileHygieneTests` keeps atomic writes out of the tests and the sources.
@discardableResult public func createPlainFile(atPath path: String, contents: Data? = nil) -> Bool {
    (try? (contents ?? Data()).write(to: URL(fileURLWithPath: path))) != nil
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
