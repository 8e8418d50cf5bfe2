import Foundation
import YAMLDecoding

/// The one place virtplace writes a file whole: `plan --out`, `reconcile --metrics-file`, the
/// definitions and records a move saves, the fresh journal of a rotation. See
/// docs/security.md.
///
/// - Only a regular file is ever replaced. A device node, FIFO, socket, directory or symbolic
///   link at the target is refused with an error and left as it is (as root, `--out
///   /dev/null` must not replace /dev/null; a link to /etc/passwd is neither followed nor
///   replaced).
/// - Atomic and durable: the data goes to a new temporary file beside the target, created
///   with `O_EXCL | O_NOFOLLOW` under a random name (a link planted under a guessed name is
///   never followed), written, `fsync`ed, renamed over the target, and the directory
///   `fsync`ed. A reader sees the old file or the new one, never half of one; a crash leaves
///   one or the other.
/// - With the permissions given, whatever the umask: 0600 for anything private.
public enum SafeFile {
    /// Owner only: saved definitions (they may hold passwords), plans, journal.
    public static let privateMode: mode_t = 0o600
    /// Readable by all (a metrics file that node-exporter, another user, reads).
    public static let publicMode: mode_t = 0o644

    /// Why a file could not be written.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
        public var path: String
        public var reason: String
        public var description: String { "cannot write '\(path)': \(reason)" }
        public var errorDescription: String? { description }
    }

    /// Writes `data` to `path` (see the type): creates it, or replaces the regular file there.
    /// - Throws: `Failure` when something other than a regular file is there, or the file
    ///   cannot be written; the target is then as it was.
    public static func write(_ data: Data, to path: String, permissions: mode_t) throws(Failure) {
        try refuseUnlessRegular(path)
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let name = String(url.lastPathComponent.prefix(180))
        var generator = SystemRandomNumberGenerator()
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<8 {
            temporary = directory + "/." + name + ".virtplace-" + String(generator.next() as UInt64, radix: 16) + ".tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw Failure(path: path, reason: "cannot create a temporary file in \(directory): \(errorText(errno))") }
        func fail(_ what: String, _ code: Int32) -> Failure {
            unlink(temporary)
            return Failure(path: path, reason: what.isEmpty ? errorText(code) : "\(what): \(errorText(code))")
        }
        var code: Int32 = 0
        if fchmod(fd, permissions) != 0 { code = errno }
        if code == 0, !writeAll(data, to: fd) { code = errno == 0 ? EIO : errno }
        if code == 0, fsync(fd) != 0 { code = errno }
        if close(fd) != 0, code == 0 { code = errno }
        if code != 0 { throw fail("", code) }
        // Looked at again just before the rename, which replaces only the name it finds.
        do { try refuseUnlessRegular(path) } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else { throw fail("", errno) }
        syncDirectory(directory)
    }

    /// Nothing at `path`, or a regular file: anything else is refused.
    /// - Throws: `Failure` naming what is there.
    public static func refuseUnlessRegular(_ path: String) throws(Failure) {
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else { throw Failure(path: path, reason: errorText(errno)) }
            return
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw Failure(path: path, reason: "it is \(FileInput.kind(info.st_mode)): virtplace writes only regular files and never replaces anything else")
        }
    }

    /// Writes all of `data` at `fd`'s offset, through short writes and interruptions; false
    /// (with `errno`) on an error.
    static func writeAll(_ data: Data, to fd: Int32) -> Bool {
        data.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return true }
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, base + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    if n == 0 { errno = EIO }
                    return false
                }
                offset += n
            }
            return true
        }
    }

    /// `fsync`s a directory, so that a rename in it is on disk.
    static func syncDirectory(_ directory: String) {
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// Writes a file readable by its owner only (saved definitions may hold passwords), with
/// `SafeFile`: a journal record that names the file is never ahead of it.
/// - Throws: `SafeFile.Failure`.
func writePrivate(_ data: Data, to path: String) throws {
    try SafeFile.write(data, to: path, permissions: SafeFile.privateMode)
}
