import Foundation
import Placement
import YAMLDecoding

/// An exclusive lock on the state directory, so that two applies or reconciles never
/// interleave. It is an `flock` on `STATE/lock`: the kernel drops it when its process dies, so
/// a lock left by a dead process is simply taken over. The file says who holds it. It is
/// opened with `O_NOFOLLOW` and must be a regular file (docs/security.md).
public final class StateLock: @unchecked Sendable {
    // Safe: `fd` is set once in init and closed once in deinit; nothing else mutates it.
    private let fd: Int32
    public let path: String

    /// Takes the lock without waiting.
    /// - Throws: `EngineError.locked` with the holder's PID and start time when another
    ///   process holds it; `EngineError.lockFailed` when the file cannot be opened.
    public init(state: StateDirectory, clock: () -> Date = Date.init) throws(EngineError) {
        path = state.lockPath
        // Never through a symlink (O_NOFOLLOW), never waiting on a FIFO (O_NONBLOCK), and only
        // a regular file: what is written to it below must not land anywhere else.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw .lockFailed(path: path, reason: code == ELOOP ? "it is a symbolic link: refused" : String(cString: strerror(code)))
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .lockFailed(path: path, reason: "it is \(FileInput.kind(info.st_mode)), not a regular file: refused")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            let holder = Self.readHolder(fd)
            close(fd)
            if err == EWOULDBLOCK {
                throw .locked(pid: holder.pid, since: holder.since, host: holder.host)
            }
            throw .lockFailed(path: path, reason: String(cString: strerror(err)))
        }
        self.fd = fd
        let record = "pid=\(getpid())\nsince=\(UTCTimestamp.iso8601(clock()))\nhost=\(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(fd, 0)
        _ = record.withCString { pwrite(fd, $0, strlen($0), 0) }
        _ = fsync(fd)
    }

    deinit {
        _ = ftruncate(fd, 0)
        _ = flock(fd, LOCK_UN)
        close(fd)
    }

    private static func readHolder(_ fd: Int32) -> (pid: Int32, since: String, host: String) {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        let text = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        return (Int32(fields["pid"] ?? "") ?? 0, fields["since"] ?? "an unknown time", fields["host"] ?? "this host")
    }
}
