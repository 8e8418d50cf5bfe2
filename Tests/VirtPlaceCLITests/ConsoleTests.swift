import Foundation
import Testing
@testable import VirtPlaceCLI

@Suite struct ConsoleTests {
    /// `virtplace apply | head`: once the reader has gone, output is dropped and the command
    /// goes on (virtplace ignores SIGPIPE, as this test does).
    /// The word-at-a-time check that lets a JSON snapshot be written as it is: every byte value
    /// at every position of a word (and in the tail past the last whole word), among plain
    /// bytes, line feeds and neighbours that could borrow or carry, judged as the byte-by-byte
    /// rule judges it.
    @Test func plainTextIsJudgedByteByByteEightAtATime() {
        func plain(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x0A } }
        for background: [UInt8] in [Array("abcdefghijklmnopq".utf8), Array("\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n".utf8),
                                    Array(" ~ ~ ~ ~ ~ ~ ~ ~ ".utf8), Array("!\n!\n!\n!\n!\n!\n!\n!\n!".utf8)] {
            for position in 0..<background.count {
                for value in UInt8.min...UInt8.max {
                    var bytes = background
                    bytes[position] = value
                    let judged = bytes.withUnsafeBytes { Console.isPlainText($0) }
                    #expect(judged == plain(bytes), "byte \(value) at \(position) in \(background)")
                }
            }
        }
    }

    @Test func writingToAClosedPipeDropsTheOutputAndReturns() throws {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[1]) }
        close(fds[0])
        #expect(Console.write(String(repeating: "line\n", count: 200_000), to: fds[1]) == .readerGone)
        #expect(Console.write("and more\n", to: fds[1]) == .readerGone)
        let failures = OutputFailures()
        failures.note(.readerGone, stream: "standard output")
        #expect(failures.message == nil, "a reader that went away is not an error")
    }

    /// A full disk is an error, remembered for the exit code.
    @Test func aFullDiskIsAFailure() throws {
        let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
        #expect(full >= 0)
        defer { close(full) }
        let result = Console.write("{\"kind\":\"Plan\"}\n", to: full)
        #expect(result == .failed(ENOSPC))
        let failures = OutputFailures()
        failures.note(result, stream: "standard output")
        failures.note(.failed(EIO), stream: "standard error")
        #expect(failures.message == "cannot write to standard output: No space left on device")
    }

    /// A descriptor left non-blocking by whoever started virtplace: waited on, not given up.
    @Test func aNonBlockingPipeGetsEverything() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        let text = String(repeating: "0123456789", count: 100_000)
        let collected = readOnAThread(fds[0], after: 0.1)  // the pipe fills first
        #expect(Console.write(text, to: fds[1]) == .written)
        close(fds[1])
        #expect(collected() == Data(text.utf8))
    }

    @Test func everythingIsWrittenWhileTheReaderReads() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let text = String(repeating: "0123456789", count: 100_000)  // more than a pipe holds
        let collected = readOnAThread(fds[0])
        #expect(Console.write(text, to: fds[1]) == .written)
        close(fds[1])
        #expect(collected() == Data(text.utf8))
    }
}

/// Reads `descriptor` to its end on a thread of its own (not a task: the writer blocks a
/// thread of Swift's small pool, and a reader task could then wait behind it for ever);
/// the returned function waits for the bytes.
func readOnAThread(_ descriptor: Int32, after delay: Double = 0) -> () -> Data {
    final class Box: @unchecked Sendable { var data = Data() }  // written before `done` is signalled
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    let reading = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    let thread = Thread {
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        box.data = reading.readDataToEndOfFile()
        done.signal()
    }
    thread.start()
    return {
        done.wait()
        return box.data
    }
}
