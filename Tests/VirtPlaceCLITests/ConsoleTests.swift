import Foundation
import Testing
@testable import VirtPlaceCLI

@Suite struct ConsoleTests {
    /// `virtplace apply | head`: once the reader has gone, output is dropped and the command
    /// goes on (virtplace ignores SIGPIPE, as this test does).
    @Test func writingToAClosedPipeDropsTheOutputAndReturns() throws {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[1]) }
        close(fds[0])
        Console.write(String(repeating: "line\n", count: 200_000), to: fds[1])
        Console.write("and more\n", to: fds[1])
    }

    @Test func everythingIsWrittenWhileTheReaderReads() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let text = String(repeating: "0123456789", count: 100_000)  // more than a pipe holds
        let reading = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        let collected = Task.detached { reading.readDataToEndOfFile() }
        Console.write(text, to: fds[1])
        close(fds[1])
        #expect(await collected.value == Data(text.utf8))
    }
}
