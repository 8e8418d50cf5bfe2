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

/// Captures what is written to the process's stderr while `body` runs (by anyone: other tests
/// running meanwhile may show up too, which only makes the "prints nothing" checks stricter).
func capturingStandardError<T>(_ body: () throws -> T) rethrows -> (T, String) {
    captureLock.lock()
    defer { captureLock.unlock() }
    fflush(nil)
    let saved = dup(STDERR_FILENO)
    var fds: [Int32] = [0, 0]
    _ = pipe(&fds)
    dup2(fds[1], STDERR_FILENO)
    close(fds[1])
    let result: T
    do {
        result = try body()
    } catch {
        fflush(nil)
        dup2(saved, STDERR_FILENO)
        close(saved)
        close(fds[0])
        throw error
    }
    fflush(nil)
    dup2(saved, STDERR_FILENO)
    close(saved)
    let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
    // fd 2 is process-wide: lines the test runner printed meanwhile for other tests are not ours.
    let runner: [Character] = ["◇", "✔", "✘", "↳", "􀟈", "􁁛", "􀢄", "􀄵"]
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        .filter { line in !(line.first.map(runner.contains) ?? false) && !line.hasPrefix("Test Suite") && !line.hasPrefix("Test Case") }
    return (result, lines.joined(separator: "\n").trimmingCharacters(in: .newlines))
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
