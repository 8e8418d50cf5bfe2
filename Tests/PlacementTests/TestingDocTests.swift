import Foundation
import Testing

/// docs/testing.md's table of claims names, for each, the test that proves it: each named file
/// must exist and hold a test of that name (a function, a suite, or a test's display name).
@Suite struct TestingDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Row: CustomStringConvertible {
        var claim: String
        var file: String
        var test: String
        var description: String { "\(file): \(test) (\(claim))" }
    }

    /// The rows of the table whose header is `| claim | where it is made | test file | test |`.
    static func rows() throws -> [Row] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/testing.md"), encoding: .utf8)
        var rows: [Row] = []
        var inTable = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if cells == ["claim", "where it is made", "test file", "test"] { inTable = true; continue }
            guard inTable else { continue }
            guard line.hasPrefix("|") else { inTable = false; continue }
            if cells.first?.hasPrefix("---") == true { continue }
            guard cells.count == 4 else {
                Issue.record("docs/testing.md: a row without 4 cells: \(line)")
                continue
            }
            rows.append(Row(claim: cells[0], file: cells[2], test: cells[3].trimmingCharacters(in: CharacterSet(charactersIn: "`"))))
        }
        return rows
    }

    @Test func everyTestTheTableNamesExists() throws {
        let rows = try Self.rows()
        #expect(rows.count >= 30, "docs/testing.md lists only \(rows.count) claims: is the table still there?")
        for row in rows {
            let path = Self.root.appendingPathComponent(row.file).path
            guard let source = try? String(contentsOfFile: path, encoding: .utf8) else {
                Issue.record("docs/testing.md names \(row.file), which does not exist: \(row)")
                continue
            }
            let name = NSRegularExpression.escapedPattern(for: row.test)
            let declared = try Regex("(func|struct)\\s+\(name)\\s*[(<{:]|@Test\\(\"\(name)\"")
            #expect(source.contains(declared), "docs/testing.md names a test that \(row.file) does not hold: \(row)")
        }
    }

    /// scripts/test's `ran_tests` reads the closing line of a `swift test` run: a run of 0 tests,
    /// or one without that line, fails; a run of enough tests passes.
    @Test func scriptsTestFailsWhenARunRanNoTest() throws {
        let script = Self.root.appendingPathComponent("scripts/test").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vp-ran-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        /// The exit status of scripts/test's shell function `name` called with `first` and `minimum`.
        func call(_ name: String, _ first: String, minimum: Int) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", "eval \"$(sed -n '/^\(name)()/,/^}/p' \"$0\")\"; \(name) \"$1\" \"$2\"", script, first, "\(minimum)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        func ranTests(_ log: String, minimum: Int) throws -> Int32 {
            let path = directory + "/run.log"
            try log.write(toFile: path, atomically: false, encoding: .utf8)
            return try call("ran_tests", path, minimum: minimum)
        }
        #expect(try ranTests("✔ Test run with 0 tests in 0 suites passed after 0.002 seconds.\n", minimum: 1) != 0)
        #expect(try ranTests("no closing line\n", minimum: 1) != 0)
        #expect(try ranTests("✔ Test run with 9 tests in 2 suites passed after 1 seconds.\n", minimum: 10) != 0)
        #expect(try ranTests("✔ Test run with 27 tests in 7 suites passed after 791.568 seconds.\n", minimum: 10) == 0)
        // The lab suites run one log each (two labs at once): each must have run a test, and
        // together at least the minimum.
        func ranTotal(_ logs: [String], minimum: Int) throws -> Int32 {
            let logDirectory = directory + "/logs-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            for (i, log) in logs.enumerated() { try log.write(toFile: "\(logDirectory)/\(i).log", atomically: false, encoding: .utf8) }
            return try call("ran_tests_total", logDirectory, minimum: minimum)
        }
        let six = "✔ Test run with 6 tests in 1 suite passed after 60.5 seconds.\n"
        #expect(try ranTotal([six, "no closing line\n"], minimum: 10) != 0)
        #expect(try ranTotal([six, six], minimum: 10) == 0)
        // The functions are there and the runs use them: the unit tests' log, each lab suite's.
        let text = try String(contentsOfFile: script, encoding: .utf8)
        #expect(text.contains("ran_tests .build/test-unit.log"))
        #expect(text.contains("ran_tests \".build/test-lab/$suite.log\" 1"))
        #expect(text.contains("ran_tests_total .build/test-lab 10"))
    }
}
