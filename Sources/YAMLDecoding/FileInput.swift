#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading an input with its size bounded, without Foundation.
enum FileInput {
    static func tooLargeMessage(limit: Int) -> String {
        let mebibyte = 1024 * 1024
        let shown = limit % mebibyte == 0 ? "\(limit / mebibyte) MiB" : "\(limit) bytes"
        return "file is larger than the \(shown) limit"
    }

    static func read(path: String, name: String, limit: Int) throws(YAMLLoadError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw YAMLLoadError(file: name, line: 0, column: 0, "cannot read the file: \(errorText(errno))")
        }
        defer { close(descriptor) }
        return try read(descriptor: descriptor, name: name, limit: limit)
    }

    /// Reads to the end, refusing a regular file over `limit` before reading it and any other
    /// input as soon as it passes `limit`.
    static func read(descriptor: Int32, name: String, limit: Int) throws(YAMLLoadError) -> [UInt8] {
        var info = stat()
        var expected = 64 * 1024
        if fstat(descriptor, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw YAMLLoadError(file: name, line: 0, column: 0, "cannot read the file: it is a directory")
            }
            if (info.st_mode & S_IFMT) == S_IFREG {
                if Int(info.st_size) > limit {
                    throw YAMLLoadError(file: name, line: 0, column: 0, tooLargeMessage(limit: limit))
                }
                expected = Int(info.st_size)
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(expected, limit) + 1)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw YAMLLoadError(file: name, line: 0, column: 0, "cannot read the file: \(errorText(errno))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit {
                throw YAMLLoadError(file: name, line: 0, column: 0, tooLargeMessage(limit: limit))
            }
        }
        return bytes
    }

    static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

extension YAMLParser {
    /// Reads a whole file, refusing one over `limit` bytes (10 MiB by default) before
    /// reading it all.
    ///
    /// - Parameter name: the file name diagnostics carry; the path when nil.
    /// - Throws: `YAMLLoadError` at 0:0 when the file cannot be read or is too large.
    public static func readFile(
        atPath path: String, name: String? = nil, limit: Int = YAMLLimits.default.maxFileSize
    ) throws(YAMLLoadError) -> [UInt8] {
        try FileInput.read(path: path, name: name ?? path, limit: limit)
    }

    /// Reads an open file descriptor (standard input, say) to its end, stopping as soon as it
    /// passes `limit` bytes. The descriptor is not closed.
    ///
    /// - Throws: `YAMLLoadError` at 0:0 when reading fails or the input is too large.
    public static func readAll(
        fileDescriptor: Int32, name: String, limit: Int = YAMLLimits.default.maxFileSize
    ) throws(YAMLLoadError) -> [UInt8] {
        try FileInput.read(descriptor: fileDescriptor, name: name, limit: limit)
    }
}

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Musl)
private let systemRead = Musl.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif
