import Foundation
import Libvirt
import Placement

/// Test-driver fixtures: one `<node>` document per simulated host, opened as
/// `test:///ABS/PATH.xml`. Each connection gets its own in-memory copy of the host.
enum Fixture {
    static func path(_ name: String) -> String {
        guard let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            return "/nonexistent/Fixtures/\(name).xml"
        }
        return directory.appendingPathComponent("\(name).xml").path
    }

    static func uri(_ name: String) -> String {
        "test://" + path(name)
    }

    static func connection(_ name: String = "host1") throws -> Connection {
        try Connection(uri: uri(name), allowTestDriver: true)
    }
}

/// Serialises captures: file descriptor 2 is process-wide, and tests run in parallel.
private let captureLock = NSLock()

/// The test runner's own lines on standard error (Swift Testing's symbols, XCTest's headers).
private func withoutRunnerLines(_ data: Data) -> String {
    let runner: [Character] = ["◇", "✔", "✘", "↳", "􀟈", "􁁛", "􀢄", "􀄵"]
    let colour = /\x{1B}\[[0-9;]*m/
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        .filter { raw in
            let line = raw.replacing(colour, with: "")
            return !(line.first.map(runner.contains) ?? false) && !line.hasPrefix("Test Suite") && !line.hasPrefix("Test Case")
        }
    return lines.joined(separator: "\n").trimmingCharacters(in: .newlines)
}

/// A new empty file under the temporary directory, opened for writing (the caller closes the
/// descriptor and removes the file).
private func scratchFile(_ label: String) -> (path: String, descriptor: Int32) {
    let path = NSTemporaryDirectory() + label + "-" + UUID().uuidString
    return (path, open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600))
}

/// Keeps what is written to the process's stderr while `body` runs out of the test log (by
/// anyone: other tests running meanwhile too). Not a witness of what `body` printed: for that,
/// `Alone`. Into a file, not a pipe: a child another test starts meanwhile inherits fd 2, and a
/// pipe would be read to its end only once that child exits (with the lock held, and a thread).
func capturingStandardError<T>(_ body: () throws -> T) rethrows -> (T, String) {
    captureLock.lock()
    defer { captureLock.unlock() }
    fflush(nil)
    let saved = dup(STDERR_FILENO)
    let file = scratchFile("vp-stderr")
    defer { close(file.descriptor); unlink(file.path) }
    dup2(file.descriptor, STDERR_FILENO)
    defer { fflush(nil); dup2(saved, STDERR_FILENO); close(saved) }
    let result = try body()
    fflush(nil)
    let data = FileManager.default.contents(atPath: file.path) ?? Data()
    return (result, withoutRunnerLines(data))
}

/// What a test prints on standard error, judged in a process where nothing else runs. fd 2 is
/// process-wide, and in the test process other tests run in parallel, some printing there (the
/// CLI's in-process runs print their errors on it): a capture there would now and then hold
/// their lines. So the test runs again in a child, alone: this test binary with a Swift Testing
/// filter naming only that test and `VIRTPLACE_TEST_ALONE` naming a file. In the child
/// `isAlone` is true: the test does what is judged, then `ran()` (which writes that file: the
/// filter did select it) and returns; the parent judges the child's standard error (the test
/// runner's own lines removed) and its exit status. The child writes into a file, and the
/// parent waits for its exit without holding a thread.
enum Alone {
    static var isAlone: Bool { ProcessInfo.processInfo.environment["VIRTPLACE_TEST_ALONE"] != nil }

    static func ran() {
        guard let path = ProcessInfo.processInfo.environment["VIRTPLACE_TEST_ALONE"] else { return }
        try? Data("ran\n".utf8).write(to: URL(fileURLWithPath: path))
    }

    static func run(filter: String) async throws -> (status: Int32, standardError: String, ran: Bool) {
        let marker = NSTemporaryDirectory() + "vp-alone-" + UUID().uuidString
        let errors = scratchFile("vp-alone-stderr")
        defer { try? FileManager.default.removeItem(atPath: marker); unlink(errors.path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--testing-library", "swift-testing", "--filter", filter]
        var environment = ProcessInfo.processInfo.environment
        environment["VIRTPLACE_TEST_ALONE"] = marker
        environment["NO_COLOR"] = "1"
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(fileDescriptor: errors.descriptor, closeOnDealloc: true)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let data = FileManager.default.contents(atPath: errors.path) ?? Data()
        return (status, withoutRunnerLines(data), FileManager.default.fileExists(atPath: marker))
    }
}

/// A minimal persistent domain for the test driver.
func testDomainXML(name: String, uuid: String, memoryMiB: Int = 128, extra: String = "", os: String = "<type>hvm</type>") -> String {
    """
    <domain type='test'>
      <name>\(name)</name>
      <uuid>\(uuid)</uuid>
      <memory unit='MiB'>\(memoryMiB)</memory>
      <vcpu>1</vcpu>
      <os>\(os)</os>
      \(extra)
    </domain>
    """
}
