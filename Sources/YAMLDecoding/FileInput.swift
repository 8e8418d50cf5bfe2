#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading an input with its size and its waiting bounded, without Foundation: the one reader
/// of every file virtplace is given (placement files, saved plans, snapshots) and of standard
/// input. See docs/security.md.
///
/// A path must name a regular file (after symlinks): a FIFO would block the open or the read
/// for as long as its writer likes, a device (`/dev/zero`) never ends, a socket is not a file.
/// They are refused before a byte is read (the open itself does not wait: `O_NONBLOCK`).
/// Standard input may be anything, but is read with a deadline: `idleTimeout` without a byte
/// and it is refused.
public enum FileInput {
    /// Why an input could not be read.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// What went wrong, without the file's name (`file is larger than the 10 MiB limit`).
        public var reason: String
        public var description: String { reason }
        public init(_ reason: String) { self.reason = reason }
    }

    /// How long standard input may stay silent before it is refused: 5 seconds.
    public static let idleTimeoutMilliseconds: Int32 = 5_000

    static func tooLargeMessage(limit: Int) -> String {
        let mebibyte = 1024 * 1024
        let shown = limit % mebibyte == 0 ? "\(limit / mebibyte) MiB" : "\(limit) bytes"
        return "file is larger than the \(shown) limit"
    }

    /// The kind of a file that is not a regular one, as a user would name it (`a FIFO (named
    /// pipe)`, `a character device`, `a symbolic link`, …), from its `st_mode`.
    public static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    /// Reads the regular file at `path` whole, refusing anything else and anything over `limit`
    /// bytes before reading it. With `noFollow`, a symlink at `path` is refused too (files in
    /// the state directory).
    /// - Throws: `Failure` saying why.
    public static func read(atPath path: String, limit: Int, noFollow: Bool = false) throws(Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0))
        guard descriptor >= 0 else {
            let code = errno
            if noFollow && code == ELOOP { throw Failure("it is a symbolic link: refused (virtplace does not follow links here)") }
            throw Failure("cannot read the file: \(errorText(code))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw Failure("cannot read the file: \(errorText(errno))") }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw Failure("cannot read the file: it is a directory") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw Failure("it is \(kind(info.st_mode)), not a regular file: give a regular file (or '-' for standard input where a placement is read)")
        }
        guard Int(info.st_size) <= limit else { throw Failure(tooLargeMessage(limit: limit)) }
        return try read(descriptor: descriptor, limit: limit, expected: Int(info.st_size), idleTimeout: nil)
    }

    /// Reads standard input (or any open descriptor) to its end: at most `limit` bytes (one
    /// more and it is refused), and never waiting more than `idleTimeout` milliseconds for the
    /// next bytes. The descriptor is not closed. A closed standard input (`<&-`; the entry
    /// point puts a write-only /dev/null there) is refused as such.
    /// - Throws: `Failure` saying why.
    public static func readStream(descriptor: Int32, limit: Int,
                                  idleTimeout: Int32? = idleTimeoutMilliseconds) throws(Failure) -> [UInt8] {
        let flags = fcntl(descriptor, F_GETFL)
        if flags < 0 || (flags & O_ACCMODE) == O_WRONLY {
            throw Failure("standard input is closed: nothing to read")
        }
        var info = stat()
        if fstat(descriptor, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw Failure("cannot read the file: it is a directory")
        }
        return try read(descriptor: descriptor, limit: limit, expected: 64 * 1024, idleTimeout: idleTimeout)
    }

    static func read(descriptor: Int32, limit: Int, expected: Int, idleTimeout: Int32?) throws(Failure) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(expected, limit) + 1)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let idleTimeout {
                var wanted = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                let ready = poll(&wanted, 1, idleTimeout)
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw Failure("cannot read the file: \(errorText(errno))")
                }
                if ready == 0 {
                    throw Failure("nothing arrived for \(idleTimeout / 1000) seconds: refused (give the placement as a file, or send it at once)")
                }
            }
            // Never more than one byte past the limit: an endless input is not read on.
            let room = min(chunk.count, limit + 1 - bytes.count)
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, room) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    if idleTimeout == nil { throw Failure("cannot read the file: \(errorText(errno))") }
                    continue
                }
                if errno == EBADF { throw Failure("standard input is closed: nothing to read") }
                throw Failure("cannot read the file: \(errorText(errno))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw Failure(tooLargeMessage(limit: limit)) }
        }
        return bytes
    }

    static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

extension YAMLParser {
    /// Reads a whole regular file, refusing anything else, and one over `limit` bytes (10 MiB
    /// by default) before reading it.
    ///
    /// - Parameter name: the file name diagnostics carry; the path when nil.
    /// - Throws: `YAMLLoadError` at 0:0 when the file cannot be read, is not a regular file,
    ///   or is too large.
    public static func readFile(
        atPath path: String, name: String? = nil, limit: Int = YAMLLimits.default.maxFileSize
    ) throws(YAMLLoadError) -> [UInt8] {
        do {
            return try FileInput.read(atPath: path, limit: limit)
        } catch {
            throw YAMLLoadError(file: name ?? path, line: 0, column: 0, error.reason)
        }
    }

    /// Reads an open file descriptor (standard input, say) to its end, stopping as soon as it
    /// passes `limit` bytes, and refusing it when nothing arrives for 5 seconds. The descriptor
    /// is not closed.
    ///
    /// - Throws: `YAMLLoadError` at 0:0 when reading fails, times out, or the input is too large.
    public static func readAll(
        fileDescriptor: Int32, name: String, limit: Int = YAMLLimits.default.maxFileSize
    ) throws(YAMLLoadError) -> [UInt8] {
        do {
            return try FileInput.readStream(descriptor: fileDescriptor, limit: limit)
        } catch {
            throw YAMLLoadError(file: name, line: 0, column: 0, error.reason)
        }
    }
}

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Musl)
private let systemRead = Musl.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif
