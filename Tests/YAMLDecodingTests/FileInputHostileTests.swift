import Foundation
import Testing
@testable import YAMLDecoding

/// The one reader of every input (docs/security.md): regular files only, bounded in size, and
/// standard input bounded in time.
@Suite struct FileInputHostileTests {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "vp-fileinput-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A FIFO with no writer: refused at once (the open does not wait for a writer).
    @Test func aFIFOIsRefusedWithoutWaiting() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        let started = Date()
        #expect(throws: FileInput.Failure.self) { try FileInput.read(atPath: dir + "/fifo", limit: 100) }
        #expect(throws: YAMLLoadError.self) { try YAMLParser.readFile(atPath: dir + "/fifo") }
        #expect(Date().timeIntervalSince(started) < 1)
    }

    @Test(arguments: ["/dev/zero", "/dev/null", "/dev/urandom"])
    func devicesAreRefused(_ device: String) {
        do {
            _ = try FileInput.read(atPath: device, limit: 100)
            Issue.record("\(device) was read")
        } catch {
            #expect(error.reason.contains("character device"))
        }
    }

    @Test func aSymlinkIsFollowedUnlessNoFollow() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("a: 1\n".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        #expect(symlink(dir + "/file", dir + "/link") == 0)
        #expect(try FileInput.read(atPath: dir + "/link", limit: 100) == Array("a: 1\n".utf8))
        #expect(throws: FileInput.Failure.self) { try FileInput.read(atPath: dir + "/link", limit: 100, noFollow: true) }
    }

    /// A pipe that stays open and silent: refused after the idle timeout, not waited on.
    @Test func aSilentStreamTimesOut() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let started = Date()
        do {
            _ = try FileInput.readStream(descriptor: fds[0], limit: 100, idleTimeout: 200)
            Issue.record("read a silent pipe")
        } catch {
            #expect(error.reason.hasPrefix("nothing arrived for"))
        }
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds >= 0.19 && seconds < 2, "\(seconds) s")
    }

    /// An endless stream: at most limit + 1 bytes are read, then it is refused.
    @Test func anEndlessStreamStopsOnePastTheLimit() throws {
        let zero = open("/dev/zero", O_RDONLY)
        #expect(zero >= 0)
        defer { close(zero) }
        do {
            _ = try FileInput.readStream(descriptor: zero, limit: 1 << 20)
            Issue.record("read to the end of /dev/zero")
        } catch {
            #expect(error.reason == "file is larger than the 1 MiB limit")
        }
    }

    /// A descriptor open for writing only (a closed standard input, as the entry point leaves it).
    @Test func aWriteOnlyDescriptorIsAClosedInput() throws {
        let null = open("/dev/null", O_WRONLY)
        #expect(null >= 0)
        defer { close(null) }
        do {
            _ = try FileInput.readStream(descriptor: null, limit: 100)
            Issue.record("read a write-only descriptor")
        } catch {
            #expect(error.reason.contains("closed"))
        }
    }
}
