import Foundation
import Testing

// The layering docs/architecture.md states, read from the sources: in Engine only
// LibvirtFleet.swift imports Libvirt (the executor speaks the driver protocol in Engine's own
// types), and the shared test support (the fake fleet) imports no Libvirt at all.

@Suite struct LayeringTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Swift files under `directory` (relative to the package) that import `module`, and how many files were read.
    static func importers(of module: String, in directory: String) throws -> (files: [String], read: Int) {
        let base = root.appendingPathComponent(directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: base.path).filter { $0.hasSuffix(".swift") }.sorted()
        let files = try names.filter { name in
            let text = try String(contentsOf: base.appendingPathComponent(name), encoding: .utf8)
            return text.split(separator: "\n").contains { line in
                let words = line.split(separator: " ")
                return words.count >= 2 && words[words.count - 2] == "import" && words.last == Substring(module)
            }
        }
        return (files, names.count)
    }

    @Test func onlyLibvirtFleetImportsLibvirtInEngineAndTheTestSupportNever() throws {
        let engine = try Self.importers(of: "Libvirt", in: "Sources/Engine")
        #expect(engine.read > 10, "read only \(engine.read) files of Sources/Engine: the scan is broken")
        #expect(engine.files == ["LibvirtFleet.swift"])
        let support = try Self.importers(of: "Libvirt", in: "Tests/TestSupport")
        #expect(support.read >= 1 && support.files.isEmpty, "\(support)")
        // The scan sees an import where there is one.
        #expect(try Self.importers(of: "Placement", in: "Tests/TestSupport").files.contains("FakeFleet.swift"))
    }
}
